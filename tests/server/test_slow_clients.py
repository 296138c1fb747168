"""``lossatlas serve`` against slow and numerous clients (all on 127.0.0.1, bounded loops): a client that
never finishes its headers is cut off, connections past the limit are closed at once, repeated log lines
are rate-limited, and the server keeps answering."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import logging
import re
import select
import socket
import threading
import time
from pathlib import Path

import httpx
from serverkit import ThreadServer, make_settings
from support import wait_for

from server import serving


def _read_until_closed(sock: socket.socket, wait_s: float) -> bytes | None:
    """What the server sends before it closes the connection; None when it has not closed it ``wait_s``
    after the last bytes came."""
    received = b""
    while True:
        readable, _, _ = select.select([sock], [], [], wait_s)
        if not readable:
            return None
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # an abort
            return received
        if not chunk:
            return received
        received += chunk


def _closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    """Closed within ``wait_s`` with no answer."""
    return _read_until_closed(sock, wait_s) == b""


def past_the_limit_closed_at_once(port: int, count: int, header_timeout_s: float) -> bool:
    """Open ``count`` idle connections to a server of ``max_connections=20``: those past the limit are
    closed at once, the others at the header timeout. False when this round took so long that the header
    timeout may have closed some (a loaded machine): it proves nothing then. Returns once the server has
    closed them all (none of them counts against the limit any more)."""
    started = time.monotonic()
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    closed: list[socket.socket] = []
    try:

        def past_the_limit_closed() -> bool:
            readable, _, _ = select.select([s for s in idle if s not in closed], [], [], 0.05)
            closed.extend(s for s in readable if _closed_by_server(s, 0))
            return len(closed) >= count - 20

        wait_for(past_the_limit_closed, 30, 0, "the connections past the limit to be closed")
        conclusive = time.monotonic() - started < header_timeout_s
        if conclusive:
            assert len(closed) == count - 20  # closed at once, before any header timeout
        assert all(s in closed or _closed_by_server(s, 30) for s in idle)  # the rest after the header timeout
        return conclusive
    finally:
        for s in idle:
            s.close()


def test_slowloris_is_cut_off_and_connections_are_capped(tmp_path: Path, tiny_npz: Path, processes):
    proc, url = processes.serve(tmp_path / "data", tiny_npz, header_timeout_s="3", max_connections="20")
    port = httpx.URL(url).port
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
    assert _closed_by_server(slow, 30)  # after header_timeout_s
    slow.close()

    for _ in range(5):  # a round that outlasts the header timeout cannot tell the two closes apart: again
        if past_the_limit_closed_at_once(port, 30, header_timeout_s=3):
            break
    else:
        raise AssertionError("every round took longer than the header timeout")
    assert wait_for(lambda: httpx.get(f"{url}/api/config", timeout=5).status_code == 200, 30)

    started = time.monotonic()
    for _ in range(100):  # each one a warning in uvicorn's log
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            s.recv(1024)
    windows = 1 + int((time.monotonic() - started) // 10)  # more than one on a slow machine
    assert httpx.get(f"{url}/api/config", timeout=5).status_code == 200
    log = processes.output(proc)
    assert 1 <= log.count("Invalid HTTP request received.") <= 20 * windows + 1  # at most a burst per 10 s window


JOB_HEADERS = (
    b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
)


# the line of each withheld body cut off: its client's port, the seconds it had
CUT_OFF = re.compile(
    r"^body_timeout_s: cut off 127\.0\.0\.1:(\d+) \(POST /api/jobs\): 10 of 1000 body bytes in ([0-9.]+) s$", re.M
)


def _headers_then(port: int, body: bytes) -> socket.socket:
    """A connection that sent a job request's whole headers (a body of 1,000 bytes) and then ``body``."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(JOB_HEADERS + body)
    return s


def test_a_withheld_or_trickled_body_is_cut_off(tmp_path: Path, tiny_npz: Path, processes):
    """Whole headers, then no body: such clients used to lock everyone out for good (with 19 of them and
    ``max_connections=20``, every other request is answered 503). And a body sent a byte at a time is cut
    off too, while it is still coming; so is the next request's on a kept-alive connection, and a pipelined
    one's."""
    proc, url = processes.serve(
        tmp_path / "data", tiny_npz, body_timeout_s="2", max_connections="20", embedded_worker="false"
    )
    port = httpx.URL(url).port
    withheld = [_headers_then(port, b'{"model": ') for _ in range(19)]
    try:
        assert all(_closed_by_server(s, 60) for s in withheld)  # after body_timeout_s
        cut_off = {int(port) for port, seconds in CUT_OFF.findall(processes.output(proc)) if float(seconds) >= 2}
        assert cut_off == {s.getsockname()[1] for s in withheld}  # a line each, naming it: they were not logged
    finally:
        for s in withheld:
            s.close()
    assert wait_for(lambda: httpx.get(f"{url}/api/config", timeout=5).status_code == 200, 30)

    with _headers_then(port, b"{") as trickle:
        for _ in range(600):  # 10 bytes a second, 1,000 in all: well below MIN_BODY_RATE
            if _closed_by_server(trickle, 0.1):
                break
            try:
                trickle.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):  # closed meanwhile
                break
        else:
            raise AssertionError("a body sent a byte at a time kept its connection open for a minute")
    # the time a long body earned is its own: the next request on the connection starts again from body_timeout_s
    keep_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    keep_alive.request("POST", "/api/jobs", b"{}" + b" " * 5_000_000, {"Content-Type": "application/json"})
    answer = keep_alive.getresponse()
    assert answer.status == 422 and not answer.will_close, answer.read()
    answer.read()
    keep_alive.sock.sendall(JOB_HEADERS + b"{")
    assert _closed_by_server(keep_alive.sock, 60)  # not 10,000 s later (the previous body earned them)
    keep_alive.close()
    with socket.create_connection(("127.0.0.1", port)) as pipelined:  # taken up once the one before is answered
        pipelined.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + JOB_HEADERS + b"{")
        answered = _read_until_closed(pipelined, 60)
        assert answered is not None and answered.startswith(b"HTTP/1.1 200 OK\r\n"), answered
        assert answered.count(b"HTTP/1.1") == 1
    with httpx.Client(base_url=url, timeout=30) as c:  # a whole body is still read
        r = c.post("/api/jobs", json={"model": "tinycnn", "dataset": "tiny", "samples": 10, "x": "-1:1:2"})
    assert r.status_code == 202, r.text
    assert "Traceback" not in processes.output(proc)


def held_app(hold_s: float):
    """An ASGI app that begins to read a request's body only ``hold_s`` after the request came (busy, say),
    then answers the sha256 of the body."""

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await asyncio.sleep(hold_s)
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        await send({"type": "http.response.body", "body": hashlib.sha256(body).hexdigest().encode()})

    return app


def _upload_headers(length: int, expect: bool = False) -> bytes:
    return (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "\r\n"
    ).encode()


def _answer(sock: socket.socket, interim: bool = False) -> bytes:
    """What the server sends, up to the end of :func:`held_app`'s answer (64 hex digits after its headers);
    ``interim``: only up to the end of an interim answer's headers (100 Continue)."""
    received = b""
    while not (received.endswith(b"\r\n\r\n") if interim else len(received.partition(b"\r\n\r\n")[2]) >= 64):
        readable, _, _ = select.select([sock], [], [], 60)
        chunk = sock.recv(65536) if readable else b""
        assert chunk, f"closed or silent: {received!r}"
        received += chunk
    return received


def test_a_body_the_app_is_not_reading_yet_is_not_cut_off(tmp_path: Path, tiny_npz: Path, monkeypatch):
    """The app takes up a request only after three body timeouts: the client's body waits in the server's
    buffers and the socket's (reading paused past uvicorn's high-water mark). Its time runs once the app reads.
    The bytes that came earn no time here (they would earn 2 minutes: longer than a test can wait)."""
    monkeypatch.setattr(serving, "MIN_BODY_RATE", 1e15)
    body = bytes(range(256)) * 4096  # 1 MiB
    settings = make_settings(tmp_path / "data", tiny_npz, body_timeout_s=0.5)
    with (
        ThreadServer(settings, held_app(1.5), guarded=True) as server,
        socket.create_connection(("127.0.0.1", server.port)) as s,
    ):
        sending = threading.Thread(target=s.sendall, args=(_upload_headers(len(body)) + body,), daemon=True)
        sending.start()  # blocks while the app is not reading
        answered = _answer(s)
        sending.join(60)
    assert answered.startswith(b"HTTP/1.1 200 OK\r\n") and answered.endswith(hashlib.sha256(body).hexdigest().encode())


def test_a_client_that_waits_for_100_continue_gets_its_time_after_it(tmp_path: Path, tiny_npz: Path):
    """``Expect: 100-continue``: the client sends its body only after the server's "100 Continue", which
    goes out when the app asks for the body: here 2.5 body timeouts after the headers. The time before does
    not count against the client, and from the "100 Continue" on it has a whole body timeout (it had only
    what was left of the timeout then running: half of one, less than this client takes)."""
    body = b"x" * 1000
    settings = make_settings(tmp_path / "data", tiny_npz, body_timeout_s=1.0)
    with (
        ThreadServer(settings, held_app(2.5), guarded=True) as server,
        socket.create_connection(("127.0.0.1", server.port)) as s,
    ):
        s.sendall(_upload_headers(len(body), expect=True))
        assert _answer(s, interim=True) == b"HTTP/1.1 100 Continue\r\n\r\n"
        time.sleep(0.75)  # a slow client: within its time
        s.sendall(body)
        answered = _answer(s)
    assert answered.startswith(b"HTTP/1.1 200 OK\r\n") and answered.endswith(hashlib.sha256(body).hexdigest().encode())


def test_a_slow_body_after_100_continue_is_cut_off_and_logged(tmp_path: Path, tiny_npz: Path, caplog):
    """A client that asks for "100 Continue", gets it, then trickles its body is cut off all the same, and
    the server's log says whom it cut off, in which request, after how many bytes and seconds."""
    settings = make_settings(tmp_path / "data", tiny_npz, body_timeout_s=0.5)
    with (
        ThreadServer(settings, held_app(0), guarded=True) as server,
        socket.create_connection(("127.0.0.1", server.port)) as s,
        caplog.at_level(logging.WARNING),
    ):
        s.sendall(_upload_headers(1000, expect=True))
        assert _answer(s, interim=True) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sent = 0
        while not _closed_by_server(s, 0.1):  # a byte every 0.1 s: far below MIN_BODY_RATE
            try:
                s.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):  # closed meanwhile
                break
            sent += 1
            assert sent < 600, "a body sent a byte at a time kept its connection open for a minute"
        port = s.getsockname()[1]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "lossatlas.server"]
    cut = re.fullmatch(
        rf"body_timeout_s: cut off 127\.0\.0\.1:{port} \(POST /upload\): (\d+) of 1000 body bytes in ([0-9.]+) s", line
    )
    assert cut and 0 < int(cut[1]) <= sent and float(cut[2]) >= 0.5, line


def test_a_request_that_is_not_http_is_refused_in_json(tmp_path: Path, tiny_npz: Path):
    """uvicorn answers it in plain text ("Invalid HTTP request received."); every refusal of the API is JSON."""
    settings = make_settings(tmp_path / "data", tiny_npz)
    with ThreadServer(settings, guarded=True) as server:
        for request in (
            b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
            b"\x16\x03\x01 not http at all\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.sendall(request)
                answer = _read_until_closed(s, 60)
            assert answer is not None, request
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower(), answer
            assert json.loads(body) == {
                "detail": "the request is not valid HTTP/1.1 (its request line, a header or its Content-Length); "
                "send a well-formed request, as curl or a browser does"
            }
        assert httpx.get(f"{server.url}/api/config", timeout=30).status_code == 200
