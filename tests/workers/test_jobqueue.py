"""The SQLite job queue on its own: atomic claims, leases, take-over, cancellation, deduplication."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from support import ManualClock, wait_for

from workers.h5io import Surface, read_surface, write_directions, write_surface
from workers.jobqueue import MAX_ATTEMPTS, JobQueue, QueueFull


def submit(queue: JobQueue, key: str, max_active: int = 10):
    return queue.submit(key, {"k": key}, {"s": key}, f"surf-{key}", f"surfaces/surf-{key}.h5", 9, max_active)


def test_concurrent_claims_take_each_job_once(tmp_path: Path):
    """Four claimers, each with its own connections, as worker processes have."""
    queue = JobQueue(tmp_path)
    ids = [submit(queue, f"k{i}", max_active=100)[0].id for i in range(40)]
    claimed: list[str] = []

    def claim_all(name: str) -> None:
        own = JobQueue(tmp_path)
        while (job := own.claim(name, 60)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # every job once, none twice


def test_expired_lease_is_reclaimed_and_the_old_worker_is_told(tmp_path: Path):
    clock = ManualClock()  # the lease expires when the test moves the clock, not when a loaded machine stalls
    queue = JobQueue(tmp_path, clock=clock)
    job, queued = submit(queue, "a")
    assert queued and job.state == "queued"
    first = queue.claim("w1", lease_s=30)
    assert first.id == job.id and first.state == "running" and first.worker == "w1"
    assert queue.claim("w2", lease_s=30) is None  # leased
    clock.advance(29)
    assert queue.record(first, 30, 1, 9, 2.0, 4.0, [(0, 0, {"train_loss": 1.5})])  # renews the lease
    clock.advance(29.5)
    assert queue.claim("w2", lease_s=30) is None  # 58.5 s after the claim: the renewed lease holds
    clock.advance(1)
    second = queue.claim("w2", lease_s=5)
    assert second.id == job.id and second.worker == "w2" and second.attempts == 2
    assert second.generation == first.generation + 1 and second.previous_worker == "w1"
    assert not queue.heartbeat(first, 5)  # w1 stalled past its lease: it must stop
    assert not queue.record(first, 5, 2, 9, None, None, [(1, 0, {"train_loss": 1.0})])  # but recorded
    assert queue.record(second, 5, 2, 9, None, None, [(2, 0, {"train_loss": float("nan")})])
    assert not queue.finish(first, "done")
    assert queue.finish(second, "done")
    assert queue.computed_by(job.id) == {"w1": 2, "w2": 1}
    rows = queue.points_since(job.id)
    assert [(r.worker, r.ix, r.iy, r.metrics) for r in rows] == [
        ("w1", 0, 0, {"train_loss": 1.5}),
        ("w1", 1, 0, {"train_loss": 1.0}),
        ("w2", 2, 0, {"train_loss": None}),
    ]
    assert queue.points_since(job.id, rows[0].seq) == rows[1:]


def test_cancel_stops_the_worker_and_keeps_the_state(tmp_path: Path):
    queue = JobQueue(tmp_path)
    job, _ = submit(queue, "a")
    claim = queue.claim("w1", 30)
    assert queue.cancel(job.id).state == "cancelled"
    assert not queue.record(claim, 30, 1, 9, None, None, [(0, 0, {"train_loss": 2.0})])
    assert queue.get(job.id).points_done == 1  # the point that was being computed is in the file
    assert not queue.finish(claim, "done") and not queue.release(claim)
    assert queue.get(job.id).state == "cancelled"
    assert queue.cancel("nope") is None


def test_identical_requests_share_a_job_until_it_fails_or_its_surface_goes(tmp_path: Path):
    queue = JobQueue(tmp_path)
    job, queued = submit(queue, "a")
    again, queued_again = submit(queue, "a")
    assert queued and not queued_again and again.id == job.id
    queue.finish(queue.claim("w", 30), "failed", error="boom")
    retried, queued = submit(queue, "a")  # a failed job is queued again, same id, error cleared
    assert queued and retried.id == job.id and retried.state == "queued" and retried.error is None
    queue.finish(queue.claim("w", 30), "done")
    assert submit(queue, "a")[1]  # done, but its surface file does not exist: computed again
    queue.finish(queue.claim("w", 30), "done")
    (tmp_path / "surfaces").mkdir()
    (tmp_path / "surfaces" / "surf-a.h5").write_bytes(b"x")
    assert submit(queue, "a") == (queue.get(job.id), False)


def test_queue_full_and_poison_jobs(tmp_path: Path):
    clock = ManualClock()
    queue = JobQueue(tmp_path, clock=clock)
    submit(queue, "a", max_active=2)
    submit(queue, "b", max_active=2)
    with pytest.raises(QueueFull) as e:
        submit(queue, "c", max_active=2)
    assert (e.value.active, e.value.limit, str(e.value)) == (2, 2, "2 jobs are queued or running")
    single = JobQueue(tmp_path / "single")
    submit(single, "a", max_active=1)
    with pytest.raises(QueueFull, match="^1 job is queued or running$"):
        submit(single, "b", max_active=1)
    assert submit(queue, "a", max_active=2)[1] is False  # an existing job is still answered
    job = queue.claim("w", 30)
    for _ in range(MAX_ATTEMPTS - 1):
        clock.advance(31)  # the lease expires: the job's worker died, say
        assert queue.claim("w", 30).id == job.id
    clock.advance(31)
    while (other := queue.claim("w", 30)) is not None:  # the poison job is failed, not handed out again
        assert other.id != job.id
    assert queue.get(job.id).state == "failed" and "gave up" in queue.get(job.id).error


def test_release_requeues_and_surface_paths_stay_inside(tmp_path: Path):
    queue = JobQueue(tmp_path)
    job, _ = submit(queue, "a")
    assert queue.release(queue.claim("w", 30))
    released = queue.get(job.id)
    assert released.state == "queued" and released.worker is None and released.attempts == 0
    assert queue.surface_path(job) == (tmp_path / "surfaces" / "surf-a.h5").resolve()
    bad, _ = queue.submit("evil", {}, {}, "x", "../outside.h5", 1, 10)
    with pytest.raises(ValueError, match="outside the data directory"):
        queue.surface_path(bad)


def test_fences_go_with_their_jobs(tmp_path: Path):
    """A job's lock file is removed once no worker may claim the job (done, failed, cancelled, given up),
    and a queue opened on an older data directory removes the ones left there."""
    clock = ManualClock()
    queue = JobQueue(tmp_path, clock=clock)
    locks = tmp_path / "locks"
    done, failed, cancelled, running = (submit(queue, k)[0] for k in "abcd")
    claims = {job.id: queue.claim("w", 30) for job in (done, failed, cancelled, running)}
    for claim in claims.values():
        with queue.fenced(claim, 30):
            pass
    assert sorted(p.name for p in locks.iterdir()) == sorted(claims)
    queue.finish(claims[done.id], "done")
    queue.finish(claims[failed.id], "failed", error="boom")
    queue.cancel(cancelled.id)
    assert [p.name for p in locks.iterdir()] == [running.id]
    for name in (done.id, "no-such-job"):  # as an older version left them
        (locks / name).touch()
    JobQueue(tmp_path)
    assert [p.name for p in locks.iterdir()] == [running.id]
    poison = submit(queue, "e")[0]
    for _ in range(MAX_ATTEMPTS):
        queue.claim("w", 1)
        clock.advance(2)  # its lease expires; the running job's (30 s) does not
    while queue.claim("w", 30) is not None:
        pass
    assert queue.get(poison.id).state == "failed" and not (locks / poison.id).exists()


def waiting_for_flock(path: Path) -> bool:
    """Whether a process (or thread) waits for an ``flock`` of the file at ``path`` (a line ``N: -> FLOCK ...
    MAJ:MIN:INODE`` of ``/proc/locks``)."""
    st = os.stat(path)
    file = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    lines = (line.split() for line in Path("/proc/locks").read_text().splitlines())
    return any(fields[1:3] == ["->", "FLOCK"] and fields[6] == file for fields in lines if len(fields) > 6)


def test_a_held_fence_stays_and_a_removed_one_is_not_trusted(tmp_path: Path):
    """A fence held by a (stalled) worker is not removed; a worker that was waiting on a lock file while it
    was removed ends up holding the file now at the path, so the next worker cannot take the job."""
    queue = JobQueue(tmp_path)
    job = submit(queue, "a")[0]
    with queue._job_lock(job.id, wait=True):
        queue._drop_fence(job.id)
        assert (tmp_path / "locks" / job.id).exists()
        holds = threading.Event()

        def waiter() -> None:
            with queue._job_lock(job.id, wait=True):
                holds.set()
                release.wait(30)

        release = threading.Event()
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_for(lambda: waiting_for_flock(tmp_path / "locks" / job.id), 30, 0.01, "the waiter to block in flock")
        (tmp_path / "locks" / job.id).unlink()  # removed while held, as _drop_fence does
    assert holds.wait(30)
    with queue._job_lock(job.id, wait=False) as free:
        assert not free  # the waiter holds the new file, not the removed one
    release.set()
    thread.join(30)
    with queue._job_lock(job.id, wait=False) as free:
        assert free


def _surface_naming(path: Path, dir_file: str) -> None:
    xs = np.linspace(-1, 1, 2)
    write_surface(path, Surface(xs, None, {"train_loss": np.zeros(2)}, np.ones(2, dtype=bool), dir_file=dir_file))


def test_a_direction_file_left_without_its_surface_goes_unless_another_surface_names_it(tmp_path: Path):
    """A job that ended without a surface file (failed, cancelled) leaves no direction file behind, but
    one that another surface file beside it names (as its dir_file), or that an unreadable file beside
    it might name, stays."""
    queue = JobQueue(tmp_path)
    surfaces = tmp_path / "surfaces"
    surfaces.mkdir()
    kept, gone, guarded = (submit(queue, key)[0] for key in ("kept", "gone", "guarded"))
    for job in (kept, gone, guarded):
        write_directions(surfaces / f"{job.surface_id}.dirs.h5", ["w"], [[torch.ones(3)]])
    _surface_naming(surfaces / "user.h5", f"{kept.surface_id}.dirs.h5")
    for job in (kept, gone):
        queue.cancel(job.id)
    assert sorted(p.name for p in surfaces.iterdir()) == ["surf-guarded.dirs.h5", "surf-kept.dirs.h5", "user.h5"]
    (surfaces / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # names nothing readable
    queue.cancel(guarded.id)
    assert (surfaces / "surf-guarded.dirs.h5").exists()
    (surfaces / "broken.h5").unlink()
    queue.let_go(guarded.id)
    assert not (surfaces / "surf-guarded.dirs.h5").exists()
    assert (surfaces / "surf-kept.dirs.h5").exists()


def test_whether_a_direction_file_is_named_is_read_from_the_names_alone(tmp_path: Path):
    """This runs in a transaction that holds up every writer, once for each surface file beside the direction
    file: it reads their dir_file only (it used to read each whole surface). A surface whose values cannot be
    read (kept in an external file, gone) but which names another direction file does not keep this one."""
    queue = JobQueue(tmp_path)
    surfaces = tmp_path / "surfaces"
    surfaces.mkdir()
    job = submit(queue, "gone")[0]
    write_directions(surfaces / f"{job.surface_id}.dirs.h5", ["w"], [[torch.ones(3)]])
    values = tmp_path / "values.bin"
    np.zeros(3).tofile(values)
    with h5py.File(surfaces / "user.h5", "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
        f.create_dataset("train_loss", shape=(3,), dtype="f8", external=[(str(values), 0, 24)])
        f["done"] = np.ones(3, dtype=np.uint8)
        f["dir_file"] = "user.dirs.h5"
    assert read_surface(surfaces / "user.h5").dir_file == "user.dirs.h5"
    values.unlink()
    with pytest.raises(OSError, match="external raw data file"):
        read_surface(surfaces / "user.h5")
    queue.cancel(job.id)
    assert sorted(p.name for p in surfaces.iterdir()) == ["user.h5"]
