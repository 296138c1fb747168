"""Request body size limit (``max_upload_mb``) enforced while the body arrives, so an oversized upload
is refused before it is spooled to disk, with a message naming the limit (Starlette's own limit says
only "Content Too Large")."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def send_error(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer from a pure ASGI middleware with ``{"detail": ...}`` and close the connection, so the
    client's unread body is never received."""
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), *headers, (b"connection", b"close")]
    head.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Pure ASGI middleware: 413 when Content-Length or the bytes received exceed ``limit_mb``."""

    def __init__(self, app: ASGIApp, limit_mb: int):
        self.app, self.limit_mb, self.limit = app, limit_mb, limit_mb * 1024 * 1024

    def _message(self) -> str:
        return f"the request body is larger than the server's limit max_upload_mb={self.limit_mb}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await send_error(send, 413, self._message())
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # raised inside the route: FastAPI answers it as JSON
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)
