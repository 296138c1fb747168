"""Request body size limit (``max_upload_mb``) enforced while the body arrives, so an oversized upload
is refused before it is spooled to disk, with a message naming the limit (Starlette's own limit says
only "Content Too Large"); a compressed body (``Content-Encoding``, which nothing here decodes) refused
with 415; and the body's last bytes kept (``body_tail`` in the request's state), by which
:mod:`server.invalid` tells an upload form cut off before its closing boundary from one lacking a field."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .echo import echo

TAIL = 128  # bytes: a multipart form's closing boundary (at most 70 characters) and the line ends around it


async def send_error(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer from a pure ASGI middleware with ``{"detail": ...}`` and close the connection, so the
    client's unread body is never received."""
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), *headers, (b"connection", b"close")]
    head.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Pure ASGI middleware: 413 when Content-Length or the bytes received exceed ``limit_mb``; 415 for a
    body with a Content-Encoding."""

    def __init__(self, app: ASGIApp, limit_mb: int):
        self.app, self.limit_mb, self.limit = app, limit_mb, limit_mb * 1024 * 1024

    def _message(self) -> str:
        return f"the request body is larger than the server's limit max_upload_mb={self.limit_mb}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"", b"identity"):  # read as it is, a gzip body was "not valid JSON" or "not HDF5"
            await send_error(
                send,
                415,
                f"the request body is sent with Content-Encoding: {echo(encoding.decode('latin-1'))}; "
                "this server reads bodies as they are: send it uncompressed, without that header",
                ((b"accept-encoding", b"identity"),),
            )
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await send_error(send, 413, self._message())
            return
        received = 0
        state = scope.setdefault("state", {})

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.limit:  # raised inside the route: FastAPI answers it as JSON
                    raise HTTPException(413, self._message())
                state["body_tail"] = (state.get("body_tail", b"") + chunk[-TAIL:])[-TAIL:]
            return message

        await self.app(scope, counting_receive, send)
