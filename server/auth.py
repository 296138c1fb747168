"""The bearer token of write endpoints, checked before a request's body is read.

FastAPI parses a form (an upload) before it runs a route's dependencies, so a dependency alone would
let anyone without the token make the server receive and spool a whole upload before the 401.
:class:`AuthGate` answers every write request (a method other than GET, HEAD, OPTIONS under ``/api/``)
from its headers alone; :func:`server.deps.require_token` checks the same on the routes, where it
documents the token in the OpenAPI schema.
"""

from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

from .echo import echo
from .invalid import allowed_methods
from .limits import send_error
from .settings import Settings

READ_METHODS = ("GET", "HEAD", "OPTIONS")
NO_TOKEN = "this server needs a bearer token for changes: send 'Authorization: Bearer <token>'"
WRONG_TOKEN = "the bearer token is not this server's: send the token its operator set (--token or LOSSATLAS_TOKEN)"


def token_refusal(settings: Settings, authorization: str | None) -> str | None:
    """Why an ``Authorization`` header value does not carry the configured token, in a line naming the fix;
    None when it does (or no token is configured)."""
    if settings.token is None:
        return None
    scheme, _, given = (authorization or "").strip().partition(" ")
    if not given.strip():
        return NO_TOKEN
    if scheme.lower() != "bearer":
        return f"this server takes a bearer token, not {echo(scheme)} credentials: send 'Authorization: Bearer <token>'"
    expected = settings.token.get_secret_value().encode()
    return None if secrets.compare_digest(given.strip().encode(), expected) else WRONG_TOKEN


class AuthGate:
    """Pure ASGI middleware: 401 for a write request without the token, before any of its body is read (a
    method no route takes there is no write: its 405, or a path's 404, names the fix instead)."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in READ_METHODS
            and scope["path"].startswith("/api/")
            and scope["method"] in allowed_methods(scope["app"], scope)  # else a 405 or 404 says what to fix
            and (refusal := token_refusal(self.settings, _header(scope, b"authorization"))) is not None
        ):
            await send_error(send, 401, refusal, ((b"www-authenticate", b"Bearer"),))
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
