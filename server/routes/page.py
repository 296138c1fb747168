"""GET /: the viewer page (frontend/index.html as a jinja2 template) under a nonce-based CSP."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from workers import __version__

from ..deps import SettingsDep

router = APIRouter(tags=["page"])

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lossatlas</title></head>
<body><h1>lossatlas {version}</h1>
<p>The viewer is not installed (frontend/index.html is missing). The API is at
<a href="/docs">/docs</a>; surfaces are listed at <a href="/api/surfaces">/api/surfaces</a>.</p>
</body></html>
"""


def csp(nonce: str) -> str:
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'"
    )


@router.get("/", response_class=HTMLResponse, summary="The viewer")
def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    headers = {"Content-Security-Policy": csp(nonce), "Cache-Control": "no-cache"}
    if not (settings.frontend_dir / "index.html").is_file():
        return HTMLResponse(PLACEHOLDER.format(version=__version__), headers=headers)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "index.html", {"csp_nonce": nonce, "version": __version__}, headers=headers
    )
