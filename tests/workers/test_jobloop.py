"""The worker loop as ``python -m workers.jobloop`` runs it: its stop signals. (Its jobs and their records are
tested with the server, which queues them: tests/server/test_worker_stop.py and others.)"""

from __future__ import annotations

import gc
import logging
import signal
import threading

import pytest

from workers import SurfaceSpec, read_surface
from workers.jobloop import main
from workers.jobqueue import JobQueue


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # no "Exception ignored" either
def test_a_second_ctrl_c_python_drops_in_the_garbage_collector_stops_the_job_at_once(
    tmp_path, tensors_npz, caplog, capfd, python_sigint
):
    """The second Ctrl-C's StopNow, raised while the collector ran a callback, was dropped ("Exception ignored
    in ..."): the worker went on as after the first one alone, its job released as if it had finished a point
    normally, with a traceback on the terminal."""
    spec = SurfaceSpec(model="tinycnn", dataset="tensors", data_root=str(tensors_npz), samples=8, x="-1:1:401")
    queue = JobQueue(tmp_path / "data")
    job, _ = queue.submit("k", {}, spec.model_dump(mode="json"), "s", "surfaces/s.h5", spec.num_points, 5)
    out = tmp_path / "data" / "surfaces" / "s.h5"
    fired = []

    def two_ctrl_c_inside_the_collector(phase: str, info: dict) -> None:
        if phase == "start" and not fired and threading.current_thread() is threading.main_thread() and out.exists():
            fired.append(True)
            signal.raise_signal(signal.SIGINT)  # the first: the worker stops after its point
            signal.raise_signal(signal.SIGINT)  # the second's handler raises StopNow here, in the callback
            sum(range(100))

    caplog.set_level(logging.INFO, logger="lossatlas.worker")
    sigterm = signal.getsignal(signal.SIGTERM)
    threshold = gc.get_threshold()
    gc.set_threshold(1)  # the collector runs at almost every allocation: at some point after the first write
    gc.callbacks.append(two_ctrl_c_inside_the_collector)
    try:
        assert main(["--data-dir", str(tmp_path / "data"), "--threads", "1", "--once"]) == 0
    finally:
        gc.callbacks.remove(two_ctrl_c_inside_the_collector)
        gc.set_threshold(*threshold)
    assert fired
    assert f"job {job.id}: stopped at once, released" in caplog.messages
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err
    points = int(read_surface(out).done.sum())
    job = queue.get(job.id)
    assert (job.state, job.worker, job.points_done) == ("queued", None, points) and 0 < points < 401
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers it found, again
    assert signal.getsignal(signal.SIGTERM) is sigterm


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_a_retry_backoff_that_is_no_wait_is_refused(tmp_path, capsys, value):
    """``--retry-backoff -1`` was taken: after a failed write the worker retried at once, over and over."""
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(tmp_path / "data"), "--retry-backoff", value, "--once"])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"python -m workers.jobloop: error: argument --retry-backoff: '{value}' is not a number of seconds above 0"
    )
    assert not (tmp_path / "data").exists()
