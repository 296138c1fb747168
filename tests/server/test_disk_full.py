"""A full disk: ``lossatlas serve`` with its data directory on a real 6 MiB tmpfs (mounted in a user and
mount namespace made with ``unshare``; the test reaches the mount through ``/proc/<pid>/root``). The
embedded worker survives failed writes: it retries, and the job finishes once space is back, or fails
with the reason when the disk stays full; the server reports the condition and refuses new jobs with 507."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import numpy as np
import pytest
from serverkit import child_pids, direct_surface, job_request, paused
from support import REPO, answering_url, can_mount_tmpfs, wait_for, written

from workers import read_surface

pytestmark = pytest.mark.skipif(not can_mount_tmpfs(), reason="cannot mount a tmpfs in a user namespace here")


TRANSIENT = ("-wal", "-shm", "-journal", ".tmp")


class SmallDiskServer:
    """``lossatlas serve`` (with its embedded worker) on a fresh tmpfs of ``size``."""

    def __init__(self, data_dir: Path, tiny_npz: Path, backoff_s: float, size: str = "6m"):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True)
        env = {
            **os.environ,
            "LOSSATLAS_DATASETS": json.dumps({"tiny": {"kind": "tensors", "root": str(tiny_npz)}}),
            "LOSSATLAS_GALLERY_DIR": str(data_dir.parent / "gallery"),
            "LOSSATLAS_LEASE_S": "5",
            "LOSSATLAS_POLL_S": "0.2",
            "LOSSATLAS_RETRY_BACKOFF_S": str(backoff_s),
            "LOSSATLAS_MIN_FREE_MB": "1",
        }
        serve = (
            f"mount -t tmpfs -o size={size} tmpfs {data_dir} && exec {sys.executable} -m server.cli serve "
            f"--data-dir {data_dir} --port 0 --threads 1"
        )
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (lives as long as the server)
        self.proc = subprocess.Popen(
            ["unshare", "-rm", "sh", "-c", serve],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            self.url = answering_url(self.output, self.proc)  # the port the system gave it, once it answers
        except BaseException:
            self.close()
            raise

    def output(self) -> str:
        return written(self.log)

    def inside(self, path: Path) -> Path:
        """``path`` as the server sees it (on its tmpfs)."""
        return Path(f"/proc/{self.proc.pid}/root") / path.relative_to("/")

    def fill(self) -> Path:
        """Fill the tmpfs to its last page; returns the filler file. Unbuffered: a buffered file keeps the
        tail of a short write and fails again when it is closed."""
        filler = self.inside(self.data_dir / "filler")
        with open(filler, "wb", buffering=0) as f, pytest.raises(OSError) as full:
            while True:
                f.write(b"\0" * 65536)
        assert full.value.errno == errno.ENOSPC
        return filler

    def worker_pid(self) -> int:
        """The embedded worker: the server's child process."""
        (pid,) = child_pids(self.proc.pid)
        return pid

    def transient_files(self) -> list[str]:
        """Files of the data directory that the server or its worker will remove: a surface file being
        written (``.NAME.PID.tmp``), the job database's write-ahead log and shared memory (there while a
        connection is open)."""
        root = self.inside(self.data_dir)
        return [str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(TRANSIENT)]

    def worker_paused_between_writes(self) -> AbstractContextManager[None]:
        """The embedded worker stopped (SIGSTOP) when no file is about to be removed, then continued.

        A disk filled while the worker held such a file gets that space back when the file goes: a
        worker replacing a surface file of the same size after every point then finds room each time,
        and may finish its job on a "full" disk without one failed write (the flaky failure). Filled
        now, the disk stays full until the test frees it."""
        return paused(self.worker_pid(), lambda: not self.transient_files(), "the worker to hold no transient file")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def small_disk(tmp_path: Path, tiny_npz: Path, request: pytest.FixtureRequest) -> Iterator[SmallDiskServer]:
    """Retries of a failed write after 1, 2, 4, 8 x the backoff (the test's parameter)."""
    server = SmallDiskServer(tmp_path / "data", tiny_npz, backoff_s=request.param)
    try:
        yield server
    finally:
        server.close()


def assert_points_left(c: httpx.Client, job: dict) -> None:
    """The job has points left to compute: the worker writes its surface file again."""
    now = c.get(f"/api/jobs/{job['id']}").json()
    assert now["state"] == "running" and now["points_done"] < now["points_total"], f"the job ended too soon: {now}"


@pytest.mark.parametrize("small_disk", [1.0], indirect=True)  # 15 s of retries: space comes back before
def test_worker_rides_out_a_full_disk_and_the_job_finishes(small_disk: SmallDiskServer, tiny_npz: Path):
    request = job_request(samples=2000, x="-1:1:15", y="-1:1:15")
    with httpx.Client(base_url=small_disk.url, timeout=30) as c:
        assert c.get("/api/config").json()["storage"]["warning"] is None
        job = c.post("/api/jobs", json=request).json()
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["points_done"] >= 4, 120, 0.05, "4 points")
        with small_disk.worker_paused_between_writes():
            assert_points_left(c, job)
            filler = small_disk.fill()
            storage = c.get("/api/config").json()["storage"]
            assert storage["free_mb"] < 1 and "less than min_free_mb=1" in storage["warning"]
            refused = c.post("/api/jobs", json=job_request(sample_seed=5))
            assert refused.status_code == 507 and "less than min_free_mb=1" in refused.json()["detail"]
        # the worker goes on: its next write finds no space (the surface file's after its point, or the
        # queue's database when it was paused before it opened the database to record the last one)
        retrying = re.compile(r"(writing \S+\.h5|recording progress) failed \(No space left on device[^\n]*; retrying")
        wait_for(lambda: retrying.search(small_disk.output()), 60, 0.1, "the worker to retry a write")
        filler.unlink()
        done = wait_for(
            lambda: (j := c.get(f"/api/jobs/{job['id']}").json())["state"] in ("done", "failed") and j,
            120,
            0.2,
            "the job to end",
        )
        assert done["state"] == "done", done
        got = read_surface(small_disk.inside(small_disk.data_dir / "surfaces" / f"{job['surface_id']}.h5"))
    expected = direct_surface(request, tiny_npz)
    for name, values in expected.metrics.items():
        np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)


@pytest.mark.parametrize("small_disk", [0.1], indirect=True)
def test_a_disk_that_stays_full_fails_the_job_with_the_reason(small_disk: SmallDiskServer):
    """The writes fail past their retries; the job queue's database (same disk) cannot record that either,
    so the worker keeps the failure and records it as soon as it can."""
    with httpx.Client(base_url=small_disk.url, timeout=30) as c:
        job = c.post("/api/jobs", json=job_request(samples=2000, x="-1:1:15", y="-1:1:15")).json()
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["points_done"] >= 2, 120, 0.05, "2 points")
        with small_disk.worker_paused_between_writes():
            assert_points_left(c, job)
            filler = small_disk.fill()

        def ended() -> bool:
            r = c.get(f"/api/jobs/{job['id']}")
            assert r.status_code in (200, 503), r.text  # 503: the database cannot be read while the disk is full
            return (
                r.status_code == 200 and r.json()["state"] == "failed"
            ) or "recording the job's end failed" in small_disk.output()

        wait_for(ended, 120, 0.2, "the job's writes to give up")
        for path in ("/api/surfaces", "/api/config", "/"):  # the server answers throughout, never a 500
            assert c.get(path).status_code in (200, 503)
        filler.unlink()
        failed = wait_for(
            lambda: (j := c.get(f"/api/jobs/{job['id']}").json())["state"] == "failed" and j,
            60,
            0.2,
            "the failure to be recorded",
        )
        assert "failed 5 times: No space left on device" in failed["error"], failed["error"]
        assert small_disk.proc.poll() is None


FILLED_BEFORE_THE_FENCE = """
import errno, logging, sys
from pathlib import Path

import numpy as np

from workers import fencing, read_surface
from workers.h5io import Surface
from workers.jobqueue import JobQueue

logging.basicConfig(level=logging.WARNING, format="%(message)s")
root = Path(sys.argv[1])
queue = JobQueue(root)
queue.submit("k", {}, {}, "s", "surfaces/s.h5", 3, 10)
claim = queue.claim("A", 30)
(root / "surfaces").mkdir()
filler, write, freed = root / "filler", fencing.write_surface, []


def write_then_fill(path, surface):  # the disk fills up between the temporary file and its replacement
    write(path, surface)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError as e:
            assert e.errno == errno.ENOSPC


def free_the_disk():  # asked after a failed try, before the wait: the space comes back meanwhile
    filler.unlink()
    freed.append(True)
    return False


fencing.write_surface = write_then_fill
out = root / "surfaces" / "s.h5"
done = np.array([True, False, True])
fencing.FencedWriter(queue, claim, 30, backoff_s=0.01, stop=free_the_disk)(
    out, Surface(np.linspace(-1, 1, 3), None, {"train_loss": np.where(done, 1.0, np.nan)}, done, {})
)
print(len(freed), read_surface(out).done.tolist(), sorted(p.name for p in out.parent.iterdir()))
"""


def test_a_disk_that_fills_before_the_fenced_replacement_is_ridden_out(tmp_path: Path):
    """The lease's renewal in the queue's database, just before the rename, failed the job at once ("disk
    I/O error" or "database or disk is full"): it is retried as the surface file's own write is."""
    data = tmp_path / "data"
    data.mkdir()
    script = f"mount -t tmpfs -o size=1m tmpfs {data} && exec {sys.executable} -c '{FILLED_BEFORE_THE_FENCE}' {data}"
    run = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "1 [True, False, True] ['s.h5']\n"  # one failed try, then the file replaced
    assert re.fullmatch(
        r"replacing s\.h5 failed \(No space left on device \(the job queue's database: "
        r"(disk I/O error|database or disk is full)\)\); retrying in 0\.0 s\n",  # SQLite says either
        run.stderr,
    ), run.stderr
