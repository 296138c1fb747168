"""The request target as the routes read it: a path. RFC 9112 (section 3.2.2) requires a server to accept a
request line naming its target in absolute form (``GET http://host:8000/api/config HTTP/1.1``, as a client
talking to a proxy sends it) as the path it names, the target's host taking the place of the Host header.
uvicorn passes such a target on whole, and no route matched the "path" ``http://host:8000/api/config``: a 404
naming a path the client never asked for. Any other target that is not a path (``*``, ``api/config``) is
refused with a 400 naming the fix."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from .echo import echo
from .limits import send_error


class OriginForm:
    """Pure ASGI middleware, outermost (every check after it sees the path, as :class:`server.auth.AuthGate`
    the path it guards): an absolute-form target becomes its path and Host; another that is not a path, 400."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/"):
            return await self.app(scope, receive, send)
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        url = urlsplit(target)
        host = url.netloc.rpartition("@")[2]
        if url.scheme.lower() not in ("http", "https") or not host:
            await send_error(
                send,
                400,
                f"the request target {echo(target)!r} is not a path: ask for a path, as in GET /api/config HTTP/1.1",
            )
            return
        raw_path = url.path or "/"
        headers = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", host.encode("latin-1"))]
        scope = {**scope, "path": unquote(raw_path), "raw_path": raw_path.encode("latin-1"), "headers": headers}
        await self.app(scope, receive, send)
