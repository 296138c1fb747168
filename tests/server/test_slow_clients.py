"""``lossatlas serve`` against slow and numerous clients (all on 127.0.0.1, bounded loops): a client that
never finishes its headers is cut off, connections past the limit are closed at once, repeated log lines
are rate-limited, and the server keeps answering."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import httpx
from support import free_port, wait_for


def _closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    readable, _, _ = select.select([sock], [], [], wait_s)
    if not readable:
        return False
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:  # an abort: closed too
        return True


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
    port = free_port()
    proc = processes.serve(tmp_path / "data", port, tiny_npz, header_timeout_s="3", max_connections="20")
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
    assert _closed_by_server(slow, 30)  # after header_timeout_s
    slow.close()

    for _ in range(5):  # a round that outlasts the header timeout cannot tell the two closes apart: again
        if past_the_limit_closed_at_once(port, 30, header_timeout_s=3):
            break
    else:
        raise AssertionError("every round took longer than the header timeout")
    assert wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=5).status_code == 200, 30)

    started = time.monotonic()
    for _ in range(100):  # each one a warning in uvicorn's log
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            s.recv(1024)
    windows = 1 + int((time.monotonic() - started) // 10)  # more than one on a slow machine
    assert httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=5).status_code == 200
    log = processes.output(proc)
    assert 1 <= log.count("Invalid HTTP request received.") <= 20 * windows + 1  # at most a burst per 10 s window
