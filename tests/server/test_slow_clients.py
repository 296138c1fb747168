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


def test_slowloris_is_cut_off_and_connections_are_capped(tmp_path: Path, tiny_npz: Path, processes):
    port = free_port()
    proc = processes.serve(tmp_path / "data", port, tiny_npz, header_timeout_s="3", max_connections="20")
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
    assert _closed_by_server(slow, 30)  # after header_timeout_s
    slow.close()

    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(30)]
    try:
        time.sleep(0.5)  # let the server accept them all (well within the 3 s header timeout)
        readable, _, _ = select.select(idle, [], [], 0.5)
        closed = [s for s in readable if _closed_by_server(s, 0)]
        assert len(closed) == 10  # past max_connections=20: closed at once, before any header timeout
        assert all(_closed_by_server(s, 30) for s in idle if s not in closed)  # the rest after the timeout
    finally:
        for s in idle:
            s.close()
    assert wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=5).status_code == 200, 30)

    for _ in range(100):  # each one a warning in uvicorn's log
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            s.recv(1024)
    assert httpx.get(f"http://127.0.0.1:{port}/api/config", timeout=5).status_code == 200
    log = processes.output(proc)
    assert 1 <= log.count("Invalid HTTP request received.") <= 20 + 1  # at most a burst per 10 s window
