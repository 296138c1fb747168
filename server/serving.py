"""How ``lossatlas serve`` runs uvicorn so that slow or numerous clients cannot take the server down.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past
``limit_concurrency`` requests, but a client that never finishes its headers (slowloris) holds its
connection, and a file descriptor, forever; 20,000 of them exhausted the descriptors. So does one that
sends whole headers and then withholds the body (or sends it a byte at a time): ``max_connections`` of
them locked everyone out. The protocol here closes a connection whose request headers are not complete
``header_timeout_s`` after it opened (or after its previous response); one whose request body is not
complete ``body_timeout_s`` after its headers, plus a second for every :data:`MIN_BODY_RATE` bytes that
arrived (a large upload on a slow line gets the time it needs, a trickle does not; as Apache's
mod_reqtimeout), time while the application is not reading the body not counted; and at once any connection
beyond ``max_connections``. A body cut off is logged (a warning naming the client and the request).
Repeated log lines (one per bad request) are rate-limited, so an attack cannot fill the disk with the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import h11
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # as uvicorn's protocol imports it
from uvicorn.protocols.http.h11_impl import H11Protocol

from workers import handled_by, stop_signals

from .settings import Settings

LOGGERS = ("uvicorn.error", "uvicorn.access", "lossatlas.catalog", "lossatlas.server")
log = logging.getLogger("lossatlas.server")


MALFORMED = (
    "the request is not valid HTTP/1.1 (its request line, a header or its Content-Length); send a well-formed "
    "request, as curl or a browser does"
)
MIN_BODY_RATE = 500  # bytes per second of a request body that earn it a second more (Apache's default)


class BodyCountingConnection(h11.Connection):
    """h11's connection, counting the bytes of the request body received so far (for the log line of a
    request cut off)."""

    body_received = 0

    def next_event(self):
        event = super().next_event()
        if isinstance(event, h11.Request):
            self.body_received = 0
        elif isinstance(event, h11.Data):
            self.body_received += len(event.data)
        return event


def guarded_protocol(header_timeout_s: float, max_connections: int, body_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a header timeout, a body timeout and a connection limit."""

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None
        _body_deadline = 0.0  # loop time by which the body of ``_body_cycle`` must be complete
        _body_cycle: object = None  # the request whose body the deadline is of
        _body_since = 0.0  # loop time its headers came
        _app_held = False  # the application was seen not reading it: the client was not to blame

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.conn = BodyCountingConnection(
                h11.SERVER, self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
            )

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # over the limit: the descriptor is freed now
                return
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch_body(len(data))

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()  # the next request's headers get the same time
            self._watch_body(0)  # a pipelined request taken up now gets its body's time

        def connection_lost(self, exc: Exception | None) -> None:
            for timer in (self._header_timer, self._body_timer):
                if timer is not None:
                    timer.cancel()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            """A request h11 cannot parse: answered in JSON, as every refusal of the API is (uvicorn's is plain
            text, "Invalid HTTP request received."), and the connection closed."""
            body = json.dumps({"detail": MALFORMED}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (h11.Response(status_code=400, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

        def _arm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _headers_late(self) -> None:
            if self.conn.their_state == h11.IDLE and not self.transport.is_closing():  # no complete request yet
                self.transport.abort()

        def _watch_body(self, received: int) -> None:
            """After data arrived: a request whose headers are complete but not its body has until its
            deadline; every byte received moves the deadline on by 1/MIN_BODY_RATE s."""
            if self.conn.their_state != h11.SEND_BODY or self.transport.is_closing():
                return
            if self._body_cycle is not self.cycle:  # this request's headers just came
                self._body_cycle, self._body_since = self.cycle, self.loop.time()
                self._body_deadline, self._app_held = self._body_since + body_timeout_s, False
            else:
                self._body_deadline += received / MIN_BODY_RATE
            self._arm_body_timer()

        def _arm_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
            self._body_timer = self.loop.call_at(self._body_deadline, self._body_late)

        def _body_late(self) -> None:
            if self.conn.their_state != h11.SEND_BODY or self.transport.is_closing():
                return  # the body came (or the connection is going)
            held = self.flow.read_paused or self.cycle.waiting_for_100_continue
            if held or self._app_held:
                # the application has not taken what came, or not asked for the body yet (no "100 Continue"
                # sent): not the client's delay. Once it does, the client gets the whole time again from then
                self._app_held = held
                self._body_deadline = self.loop.time() + body_timeout_s
                self._arm_body_timer()
                return
            self._cut_off()

        def _cut_off(self) -> None:
            """Close the connection of a body that is late, saying so (rate-limited, as every repeated line)."""
            scope = self.cycle.scope
            length = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
            log.warning(
                "body_timeout_s: cut off %s (%s %s): %d%s body bytes in %.1f s",
                f"{self.client[0]}:{self.client[1]}" if self.client else "a client",
                scope["method"],
                scope["raw_path"].decode("ascii", "replace"),  # as sent: %0A in the path stays, no line of its own
                self.conn.body_received,
                f" of {length}" if length else "",  # none with a chunked body
                self.loop.time() - self._body_since,
            )
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


class Server(uvicorn.Server):
    """uvicorn's server whose stop signals are :func:`stop_signals`, and whose stop by one ends the command
    (exit status 0, as the worker's does) rather than raising the signal again after the shutdown, as
    uvicorn does (Ctrl-C: an interrupted run's 130; SIGTERM: death by the signal, without a word)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with handled_by(self.handle_exit, stop_signals()):
            yield


def uvicorn_config(app, settings: Settings) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=guarded_protocol(settings.header_timeout_s, settings.max_connections, settings.body_timeout_s),
        timeout_keep_alive=int(settings.keep_alive_s),
        limit_concurrency=settings.max_connections,
    )
    repeat = RepeatFilter()
    for name in LOGGERS:
        logging.getLogger(name).addFilter(repeat)
    return config
