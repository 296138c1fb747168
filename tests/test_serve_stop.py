"""``lossatlas serve`` stopped by Ctrl-C or SIGTERM (``docker stop``, systemd) ends as the worker does:
uvicorn's graceful shutdown, then exit status 0; not an interrupted run's 130 and "run the same command
again to resume" (Ctrl-C), nor death by the signal with no word (SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support import REPO, default_stop_signals, served_url, wait_for


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:  # not listening yet, or still starting (a timeout)
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_server_stopped_by_a_signal_shuts_down_and_exits_0(tmp_path, sig):
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--no-worker", "--data-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_stop_signals,
    )
    try:
        # answering: uvicorn runs, with its signal handlers (before, the socket listens while the app is made)
        url = served_url(proc)  # the port it bound: one found free before could be taken meanwhile
        wait_for(lambda: proc.poll() is not None or answers(f"{url}/api/config"), what="serve")
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert err.endswith(f"Finished server process [{proc.pid}]\n"), err
    assert "Traceback" not in err and "interrupted" not in err and "terminated" not in err


def ignored_signals(pid: int) -> set[int]:
    """The signals that process ``pid`` ignores, as the kernel holds them (``SigIgn`` in its status)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    mask = int(next(line for line in status if line.startswith("SigIgn:")).split()[1], 16)
    return {sig for sig in range(1, 65) if mask >> (sig - 1) & 1}


def ignore_ctrl_c() -> None:
    """``preexec_fn`` of ``lossatlas serve &`` in a shell script: SIGINT ignored, SIGTERM as ever."""
    default_stop_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_server_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path):
    """A shell script's background job (``lossatlas serve &``) starts with SIGINT ignored, so that a Ctrl-C
    meant for the script leaves it running: uvicorn used to take SIGINT over and stop on it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0", "--no-worker", "--data-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_ctrl_c,
    )
    try:
        url = served_url(proc)
        wait_for(lambda: proc.poll() is not None or answers(f"{url}/api/config"), what="serve")
        assert proc.poll() is None, proc.communicate()[1]
        # answering: uvicorn's handlers are in place; SIGINT is still ignored, so the kernel drops it on sending
        assert signal.SIGINT in ignored_signals(proc.pid)
        proc.send_signal(signal.SIGINT)
        assert answers(f"{url}/api/config") and proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # still stops it, as ever
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert err.endswith(f"Finished server process [{proc.pid}]\n"), err
    assert err.count("Shutting down") == 1 and "Traceback" not in err
