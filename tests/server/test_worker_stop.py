"""Ctrl-C and SIGTERM to a worker, ``lossatlas worker`` or the one ``lossatlas serve`` runs: the first says
what the worker is doing and that a second stops it at once, then lets it finish the point it computes;
the second stops it at once. Either way the job goes back to the queue and its file stays whole.

The job's model holds its forward pass while a gate file exists: the worker is in the middle of a point
for as long as the test says, however slow the machine."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from serverkit import Processes, child_pids
from support import ignore_ctrl_c, ignored_signals, wait_for

from workers import SurfaceSpec, read_surface
from workers.jobloop import StopNow, Worker
from workers.jobqueue import Job, JobQueue

GATED_MODEL = """
import time
from pathlib import Path

import torch.nn as nn


class Gate(nn.Module):
    def forward(self, x):
        if len(x) > 1:  # a grid point's batch (the worker's check of the data passes one sample)
            Path({entered!r}).touch()
            while Path({gate!r}).exists():
                time.sleep(0.01)
        return x


def model():
    return nn.Sequential(Gate(), nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
"""

SAYS_WHAT_IT_DOES = (
    "lossatlas worker: stopping after the point it is computing of job {}, which then goes back to the queue; "
    "Ctrl-C again stops at once"
)


class GatedJob:
    """A 3-point job of the gated model in ``data``'s queue; ``env`` lets a worker import the model."""

    def __init__(self, tmp_path: Path, data: Path, tiny_npz: Path):
        self.gate, self.entered = tmp_path / "gate", tmp_path / "entered"
        self.gate.touch()
        (tmp_path / "gated_model.py").write_text(GATED_MODEL.format(gate=str(self.gate), entered=str(self.entered)))
        self.env = {"PYTHONPATH": os.pathsep.join(filter(None, (str(tmp_path), os.environ.get("PYTHONPATH"))))}
        self.queue = JobQueue(data)
        spec = SurfaceSpec(
            model="gated_model:model", dataset="tensors", data_root=str(tiny_npz), samples=20, x="-1:1:3"
        )
        self.job: Job = self.queue.submit(
            "gated", {}, spec.model_dump(mode="json"), "gated", "surfaces/gated.h5", 3, 10
        )[0]
        self.out = data / "surfaces" / "gated.h5"

    def state(self) -> Job:
        return self.queue.get(self.job.id)

    def points_in_file(self) -> int:
        return int(read_surface(self.out).done.sum()) if self.out.exists() else 0

    def assert_given_back(self, points: int) -> None:
        """The job is queued again with ``points`` finished, in its file and its records alike."""
        job = self.state()
        assert (job.state, job.worker, job.points_done, self.points_in_file()) == ("queued", None, points, points)
        assert sorted(p.name for p in self.out.parent.iterdir()) == (["gated.dirs.h5", "gated.h5"] if points else [])


def _wait_ended(proc: subprocess.Popen, processes: Processes) -> str:
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running:\n{processes.output(proc)}") from None
    output = processes.output(proc)
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    return output


def test_a_second_ctrl_c_stops_the_worker_at_once(tmp_path: Path, tiny_npz: Path, processes):
    gated = GatedJob(tmp_path, tmp_path / "data", tiny_npz)
    worker = processes.start("worker", "--data-dir", str(tmp_path / "data"), "--threads", "1", env=gated.env)
    wait_for(gated.entered.exists, 120, what="the worker to begin a point")
    worker.send_signal(signal.SIGINT)
    said = SAYS_WHAT_IT_DOES.format(gated.job.id)
    wait_for(lambda: said in processes.output(worker), 60, what="the worker to say what it does")
    worker.send_signal(signal.SIGINT)  # the point is still held at its gate: only a stop at once ends it
    output = _wait_ended(worker, processes)
    assert output.count(said) == 1 and f"job {gated.job.id}: stopped at once, released" in output
    gated.assert_given_back(0)


def test_the_first_sigterm_lets_the_worker_finish_its_point(tmp_path: Path, tiny_npz: Path, processes):
    gated = GatedJob(tmp_path, tmp_path / "data", tiny_npz)
    worker = processes.start("worker", "--data-dir", str(tmp_path / "data"), "--threads", "1", env=gated.env)
    wait_for(gated.entered.exists, 120, what="the worker to begin a point")
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: SAYS_WHAT_IT_DOES.format(gated.job.id) in processes.output(worker), 60, what="its line")
    gated.gate.unlink()
    assert f"job {gated.job.id}: released" in _wait_ended(worker, processes)
    gated.assert_given_back(1)


def test_serve_stops_its_worker_after_its_point_or_at_a_second_ctrl_c(tmp_path: Path, tiny_npz: Path, processes):
    """A Ctrl-C on serve's terminal reaches every process of its group: it used to reach the worker too,
    and the server's own SIGTERM after it was then ignored; a second Ctrl-C did not shorten the wait (up to
    30 s) for the worker to finish its point."""
    data = tmp_path / "data"
    gated = GatedJob(tmp_path, data, tiny_npz)
    said = SAYS_WHAT_IT_DOES.format(gated.job.id)
    for ctrl_c in (1, 2):
        gated.gate.touch()
        gated.entered.unlink(missing_ok=True)
        serve, _ = processes.serve(data, tiny_npz, env=gated.env, terminal=True)
        wait_for(gated.entered.exists, 120, what="the embedded worker to begin a point")
        (worker,) = child_pids(serve.pid)
        assert os.getpgid(worker) != serve.pid  # out of the terminal's reach: its Ctrl-C goes to the server alone
        os.killpg(serve.pid, signal.SIGINT)
        wait_for(lambda s=serve: said in processes.output(s), 60, what="the worker to say what it does")
        if ctrl_c == 1:
            gated.gate.unlink()
        else:
            os.killpg(serve.pid, signal.SIGINT)
        output = _wait_ended(serve, processes)
        assert output.count(said) == 1 and "stopping it at once" not in output  # not after the 30 s wait
        assert f"job {gated.job.id}: {'released' if ctrl_c == 1 else 'stopped at once, released'}" in output
        gated.assert_given_back(1)


class SignalledAfterClaim(JobQueue):
    """The job queue, whose claim of a job is followed at once by a Ctrl-C and a SIGTERM to this process: a
    second stop signal that lands in the moment after the claim, before the worker holds the job."""

    def claim(self, worker: str, lease_s: float) -> Job | None:
        job = super().claim(worker, lease_s)
        if job is not None:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        return job


def test_a_second_signal_right_after_a_claim_gives_the_job_back(tmp_path: Path, tiny_npz: Path):
    """The second signal's StopNow used to escape the claim: the job was left running under this worker,
    for its lease to run out before another worker could take it."""
    gated = GatedJob(tmp_path, tmp_path / "data", tiny_npz)
    worker = Worker(SignalledAfterClaim(tmp_path / "data"), "w-claim", lease_s=600)
    handlers = {sig: signal.signal(sig, worker.stop_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(StopNow):
            worker.run(once=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    job = gated.state()
    assert (job.state, job.worker, job.points_done) == ("queued", None, 0)
    assert not gated.entered.exists() and not gated.out.parent.exists()  # no point begun, no file


def test_a_worker_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path: Path, processes):
    """As ``lossatlas serve`` does: a shell script's background job (``lossatlas worker &``) starts with SIGINT
    ignored, so that a Ctrl-C meant for the script leaves it running; the worker used to take SIGINT over."""
    worker = processes.start("worker", "--data-dir", str(tmp_path / "data"), "--poll", "0.2", preexec_fn=ignore_ctrl_c)
    wait_for(lambda: "waiting for jobs" in processes.output(worker), 60, what="the worker's handlers in place")
    assert signal.SIGINT in ignored_signals(worker.pid)  # the kernel drops a SIGINT sent to it
    worker.send_signal(signal.SIGTERM)  # still stops it, as ever
    assert "Traceback" not in _wait_ended(worker, processes)
