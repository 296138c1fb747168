"""GET /: the viewer page (frontend/index.html as a jinja2 template) under a nonce-based CSP; GET /docs:
Swagger UI on the API's schema, from the files npm installed beside the viewer so that it works offline."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
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


SWAGGER_UI = "node_modules/swagger-ui-dist"  # under the frontend directory, served at /static


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Swagger UI from the viewer's npm files; from FastAPI's default CDN only where they are not installed
    (a checkout without ``npm ci``)."""
    local = (settings.frontend_dir / SWAGGER_UI / "swagger-ui-bundle.js").is_file()
    assets = (
        {
            "swagger_js_url": f"/static/{SWAGGER_UI}/swagger-ui-bundle.js",
            "swagger_css_url": f"/static/{SWAGGER_UI}/swagger-ui.css",
        }
        if local
        else {}
    )
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} {request.app.version}: REST API",
        swagger_favicon_url="/static/favicon.svg",
        **assets,
    )
