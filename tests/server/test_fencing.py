"""Fencing: a worker writes a job's surface file only under the lease it holds, and a surface file never
moves backwards in points, even when a worker paused past its lease wakes up after its successor
finished the job."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from serverkit import ThreadServer, between_writes, database_free, direct_surface, job_request, make_settings, paused
from support import ManualClock, wait_for

from workers import read_surface
from workers.fencing import BackwardsWrite, FencedWriter
from workers.h5io import Surface
from workers.jobqueue import JobQueue, LeaseLost


def _surface(done: list[bool]) -> Surface:
    done_arr = np.array(done)
    values = np.where(done_arr, np.arange(len(done), dtype=float), np.nan)
    return Surface(np.linspace(-1, 1, len(done)), None, {"train_loss": values}, done_arr, {"spec": {}})


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_stale_claim_cannot_replace_the_file_nor_can_anyone_move_it_backwards(tmp_path: Path):
    clock = ManualClock()
    queue = JobQueue(tmp_path, clock=clock)
    queue.submit("k", {}, {}, "s", "surfaces/s.h5", 4, 10)
    out = tmp_path / "surfaces" / "s.h5"
    out.parent.mkdir()
    first = queue.claim("A", lease_s=30)
    FencedWriter(queue, first, 30)(out, _surface([True, False, False, False]))
    assert read_surface(out).done.tolist() == [True, False, False, False]
    clock.advance(31)
    second = queue.claim("B", lease_s=30)  # A stalled past its lease: B takes over
    FencedWriter(queue, second, 30)(out, _surface([True, True, True, True]))
    complete = _digest(out)
    with pytest.raises(LeaseLost, match="generation 1.*no longer current"):
        FencedWriter(queue, first, 30)(out, _surface([True, True, False, False]))
    with pytest.raises(BackwardsWrite, match="holds 4 finished points, 2 of them missing"):
        FencedWriter(queue, second, 30)(out, _surface([True, True, False, False]))  # even the holder
    assert _digest(out) == complete
    assert [p.name for p in out.parent.iterdir()] == ["s.h5"]  # no temporary file left behind
    queue.finish(second, "done")
    with pytest.raises(LeaseLost):  # a finished job takes no more writes
        FencedWriter(queue, second, 30)(out, _surface([True, True, True, True]))


PAUSED_INSIDE_THE_FENCE = """
import os, signal, sys
from workers.jobqueue import JobQueue

queue = JobQueue(sys.argv[1])
claim = queue.claim("A", lease_s=30)
with queue.fenced(claim, 30):
    print("inside", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # a worker frozen in the middle of replacing its file
print("out", flush=True)
"""


def test_a_worker_paused_inside_its_fence_holds_up_its_own_job_not_the_queue(tmp_path: Path):
    """The fence of a file replacement used to be the queue's SQLite write lock: a worker frozen inside it
    stalled every submission, claim and record. Now it holds only its job's lock file."""
    import os
    import sys

    clock = ManualClock(time.time())
    queue = JobQueue(tmp_path, clock=clock)
    first, _ = queue.submit("k1", {}, {}, "s1", "surfaces/s1.h5", 4, 10)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    a = subprocess.Popen(
        [sys.executable, "-c", PAUSED_INSIDE_THE_FENCE, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert a.stdout.readline().strip() == "inside"
        wait_for(lambda: Path(f"/proc/{a.pid}/stat").read_text().split(")")[1].split()[0] == "T", 30, 0.02, "A to stop")
        clock.now = queue.get(first.id).lease_until + 1  # A's lease has expired (for this queue)
        assert database_free(tmp_path)  # A holds no SQLite lock: nobody else waits for it
        second, queued = queue.submit("k2", {}, {}, "s2", "surfaces/s2.h5", 4, 10)
        claim = queue.claim("B", lease_s=30)
        assert queued and claim.id == second.id  # the first job is skipped: its frozen worker holds its fence
        assert queue.record(claim, 30, 1, 4, None, None, [(0, 0, {"train_loss": 1.0})])
        assert queue.claim("C", lease_s=30) is None
        a.send_signal(signal.SIGCONT)
        assert a.wait(30) == 0 and a.stdout.read().strip() == "out"
        taken = queue.claim("C", lease_s=30)  # the fence released, the expired job is taken over
        assert (taken.id, taken.generation, taken.previous_worker) == (first.id, 2, "A")
    finally:
        a.kill()
        a.wait()


def test_worker_paused_past_its_lease_cannot_overwrite_the_finished_surface(tmp_path: Path, tiny_npz: Path, processes):
    """A is SIGSTOPped mid-job, B takes over and finishes, A is SIGCONTed: it must not write its partial
    surface over B's complete one (the bug: "done 961/961" with a 302/961 file)."""
    settings = make_settings(tmp_path / "data", tiny_npz)
    request = job_request(samples=2000, x="-1:1:7", y="-1:1:7")
    queue = JobQueue(settings.data_dir)
    with ThreadServer(settings) as server, server.client() as c:
        job = c.post("/api/jobs", json=request).json()
        a = processes.worker(settings.data_dir, lease=1.0, worker_id="A")
        wait_for(lambda: queue.get(job["id"]).points_done >= 6, 120, 0.02, "6 points")
        # paused mid-point, holding no lock (B could not claim the job): it will finish the point and try
        # to write it on waking
        with paused(a.pid, lambda: between_writes(settings.data_dir), "A to pause between its writes"):
            assert queue.get(job["id"]).points_done < 49, "A finished the job before it was paused"
            wait_for(lambda: queue.get(job["id"]).lease_until < time.time(), 30, 0.05, "A's lease to expire")
            by_a = int(read_surface(settings.surfaces_dir / f"{job['surface_id']}.h5").done.sum())
            b = processes.worker(settings.data_dir, lease=30, worker_id="B")
            wait_for(lambda: queue.get(job["id"]).state == "done", 120, 0.1, "B to finish the job")
            path = settings.surfaces_dir / f"{job['surface_id']}.h5"
            finished = _digest(path)
        wait_for(lambda: f"job {job['id']}: lost" in processes.output(a), 60, 0.1, "A to give the job up")
        b.send_signal(signal.SIGTERM)
        b.wait(30)
        assert _digest(path) == finished  # A's stale write was refused
        listed = c.get(f"/api/jobs/{job['id']}").json()
        assert (listed["state"], listed["points_done"]) == ("done", 49)
        mesh = c.get(f"/api/surfaces/{job['surface_id']}").json()
        assert mesh["complete"] and sum(map(sum, mesh["done"])) == 49
    counts = queue.computed_by(job["id"])
    assert counts["B"] == 49 - by_a and counts.get("A", 0) in (by_a, by_a + 1)  # A's stale point is not recorded
    got, expected = read_surface(path), direct_surface(request, tiny_npz)
    for name, values in expected.metrics.items():
        np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)


def test_a_database_write_failing_on_a_full_disk_is_put_down_to_the_disk(tmp_path: Path, monkeypatch):
    """SQLite reports a full disk as "disk I/O error"; the job's failure says what the user can fix."""
    import shutil

    from workers import fencing

    error = sqlite3.OperationalError("disk I/O error")
    assert fencing.storage_reason(error, tmp_path) == "disk I/O error"  # space left: the error as it is
    monkeypatch.setattr(fencing, "FULL_BYTES", shutil.disk_usage(tmp_path).free + 2**30)  # this disk counts as full
    assert (
        fencing.storage_reason(error, tmp_path) == "No space left on device (the job queue's database: disk I/O error)"
    )
    assert fencing.storage_reason(error) == "disk I/O error"  # nowhere to look
    assert fencing.storage_reason(OSError(28, "x"), tmp_path) == "No space left on device"
