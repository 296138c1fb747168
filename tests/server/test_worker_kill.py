"""A worker SIGKILLed mid-job: its lease expires, a second worker resumes the partial file, and no point
is computed twice."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
from serverkit import ThreadServer, direct_surface, job_request, make_settings
from support import wait_for

from workers import read_surface
from workers.jobqueue import JobQueue


def test_killed_worker_job_is_finished_by_another(tmp_path: Path, tiny_npz: Path, processes):
    settings = make_settings(tmp_path / "data", tiny_npz)
    request = job_request(samples=2000, x="-1:1:7", y="-1:1:7")
    with ThreadServer(settings) as server, server.client() as c:
        job = c.post("/api/jobs", json=request).json()
        a = processes.worker(settings.data_dir, lease=1.5, worker_id="A")
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["points_done"] >= 8, 120, 0.05, "8 points")
        a.send_signal(signal.SIGKILL)
        a.wait()
        at_kill = c.get(f"/api/jobs/{job['id']}").json()
        in_file = int(read_surface(settings.surfaces_dir / f"{job['surface_id']}.h5").done.sum())
        assert at_kill["state"] == "running" and 8 <= in_file < 49  # left claimed by a dead worker
        processes.worker(settings.data_dir, lease=1.5, worker_id="B")
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["state"] == "done", 120, 0.2, "the job to be done")
        path = tmp_path / "got.h5"
        path.write_bytes(c.get(f"/api/surfaces/{job['surface_id']}/file").content)
    queue = JobQueue(settings.data_dir)
    assert queue.get(job["id"]).attempts == 2
    counts = queue.computed_by(job["id"])
    assert counts == {"A": in_file, "B": 49 - in_file}  # B computed only what A had not finished
    assert len({(p.ix, p.iy) for p in queue.points_since(job["id"])}) == 49
    got, expected = read_surface(path), direct_surface(request, tiny_npz)
    for name, values in expected.metrics.items():
        np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)
