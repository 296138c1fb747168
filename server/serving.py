"""How ``lossatlas serve`` runs uvicorn so that slow or numerous clients cannot take the server down.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past
``limit_concurrency`` requests, but a client that never finishes its headers (slowloris) holds its
connection, and a file descriptor, forever; 20,000 of them exhausted the descriptors. The protocol here
closes a connection whose request headers are not complete ``header_timeout_s`` after it opened (or after
its previous response), and closes at once any connection beyond ``max_connections``. Repeated log lines
(one per bad request) are rate-limited, so an attack cannot fill the disk with the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings

LOGGERS = ("uvicorn.error", "uvicorn.access", "lossatlas.catalog", "lossatlas.server")


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a header timeout and a connection limit."""

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # over the limit: the descriptor is freed now
                return
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()  # the next request's headers get the same time

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _headers_late(self) -> None:
            if self.conn.their_state == h11.IDLE and not self.transport.is_closing():  # no complete request yet
                self.transport.abort()

    return GuardedH11Protocol


class RepeatFilter(logging.Filter):
    """Lets ``burst`` records of one message template through per ``window_s``, then counts the rest and
    says how many were left out when the window ends."""

    def __init__(self, burst: int = 20, window_s: float = 10.0):
        super().__init__()
        self.burst, self.window_s = burst, window_s
        self._windows: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = (record.name, record.msg), time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            if count > self.burst:
                record.msg = (
                    f"({count - self.burst} more lines like this one left out in {self.window_s:g} s) {record.msg}"
                )
            start, count = now, 0
        self._windows[key] = (start, count + 1)
        if len(self._windows) > 10_000:  # many distinct templates: start over rather than grow
            self._windows.clear()
        return count < self.burst


def listening_socket(settings: Settings) -> socket.socket:
    """The server's socket, bound before anything starts: a port in use or an address not of this machine
    is refused in one line, before the embedded worker starts (uvicorn would log it after)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        return socket.create_server((settings.host, settings.port), family=family)
    except OSError as e:
        raise ValueError(
            f"cannot listen on {settings.host} port {settings.port} ({os.strerror(e.errno) if e.errno else e}); "
            "choose another --port (or LOSSATLAS_PORT) or --host"
        ) from None


def uvicorn_config(app, settings: Settings) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=guarded_protocol(settings.header_timeout_s, settings.max_connections),
        timeout_keep_alive=int(settings.keep_alive_s),
        limit_concurrency=settings.max_connections,
    )
    repeat = RepeatFilter()
    for name in LOGGERS:
        logging.getLogger(name).addFilter(repeat)
    return config
