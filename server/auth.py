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

from .limits import send_error
from .settings import Settings

READ_METHODS = ("GET", "HEAD", "OPTIONS")
UNAUTHORIZED = "this server needs a bearer token for changes: send 'Authorization: Bearer <token>'"


def token_ok(settings: Settings, authorization: str | None) -> bool:
    """Whether an ``Authorization`` header value carries the configured token (no token configured: yes)."""
    if settings.token is None:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.token.get_secret_value().encode()
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), expected)


class AuthGate:
    """Pure ASGI middleware: 401 for a write request without the token, before any of its body is read."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in READ_METHODS
            and scope["path"].startswith("/api/")
            and not token_ok(self.settings, _header(scope, b"authorization"))
        ):
            await send_error(send, 401, UNAUTHORIZED, ((b"www-authenticate", b"Bearer"),))
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
