"""``lossatlas serve`` against slow and numerous clients (all on 127.0.0.1, bounded loops): a client that
never finishes its headers is cut off, connections past the limit are closed at once, repeated log lines
are rate-limited, and the server keeps answering."""

from __future__ import annotations

import http.client
import select
import socket
import time
from pathlib import Path

import httpx
from support import wait_for


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
