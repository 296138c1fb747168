"""``lossatlas serve`` stopped by Ctrl-C or SIGTERM (``docker stop``, systemd) ends as the worker does:
uvicorn's graceful shutdown, then exit status 0; not an interrupted run's 130 and "run the same command
again to resume" (Ctrl-C), nor death by the signal with no word (SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

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
