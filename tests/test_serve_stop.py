"""``lossatlas serve`` stopped by Ctrl-C or SIGTERM (``docker stop``, systemd) ends as the worker does:
uvicorn's graceful shutdown, then exit status 0; not an interrupted run's 130 and "run the same command
again to resume" (Ctrl-C), nor death by the signal with no word (SIGTERM)."""

from __future__ import annotations

import signal
import sys

import pytest
from support import answers, ignore_ctrl_c, ignored_signals, serving

SERVE = [sys.executable, "-m", "server.cli"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_server_stopped_by_a_signal_shuts_down_and_exits_0(tmp_path, sig):
    with serving(SERVE, tmp_path) as (proc, _):
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.endswith(f"Finished server process [{proc.pid}]\n"), err
    assert "Traceback" not in err and "interrupted" not in err and "terminated" not in err


def test_a_server_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path):
    """A shell script's background job (``lossatlas serve &``) starts with SIGINT ignored, so that a Ctrl-C
    meant for the script leaves it running: uvicorn used to take SIGINT over and stop on it."""
    with serving(SERVE, tmp_path, preexec_fn=ignore_ctrl_c) as (proc, url):
        # answering: uvicorn's handlers are in place; SIGINT is still ignored, so the kernel drops it on sending
        assert signal.SIGINT in ignored_signals(proc.pid)
        proc.send_signal(signal.SIGINT)
        assert answers(url, 5) and proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # still stops it, as ever
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.endswith(f"Finished server process [{proc.pid}]\n"), err
    assert err.count("Shutting down") == 1 and "Traceback" not in err
