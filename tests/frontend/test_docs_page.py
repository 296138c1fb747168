"""/docs: Swagger UI renders every operation of the API's schema from the server's own files, with every
request to another host refused (it used to load Swagger UI from a CDN: a blank page offline)."""

from __future__ import annotations

import httpx
import pytest
from frontend_support import VIEWPORT

from server.routes.page import SWAGGER_UI


def test_docs_render_every_operation_offline(browser, server):
    if not (server["settings"].frontend_dir / SWAGGER_UI / "swagger-ui-bundle.js").is_file():
        pytest.skip("swagger-ui-dist is not installed (cd frontend && npm ci)")
    base = server["base"]
    schema = httpx.get(f"{base}/openapi.json").json()
    operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    elsewhere: list[str] = []

    def offline(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=20000)
        shown = set(
            map(
                tuple,
                page.eval_on_selector_all(
                    ".opblock",
                    """blocks => blocks.map(b => [
                        b.querySelector('.opblock-summary-method').textContent.trim(),
                        b.querySelector('.opblock-summary-path').getAttribute('data-path'),
                    ])""",
                ),
            )
        )
        title = page.inner_text(".info .title")
    finally:
        context.close()
    assert shown == operations
    assert title.startswith("lossatlas") and not elsewhere and not errors
