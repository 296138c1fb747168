"""Server restarts and crashes lose no job, the embedded worker dies with its server, and ``lossatlas
serve`` refuses an unsafe configuration."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from serverkit import ThreadServer, between_writes, job_request, make_settings, paused
from support import wait_for

from server.cli import main
from workers.jobqueue import JobQueue


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_restarts_lose_no_job(tmp_path: Path, tiny_npz: Path, processes):
    data = tmp_path / "data"
    with ThreadServer(make_settings(data, tiny_npz)) as first, first.client() as c:  # no worker: jobs stay queued
        small = c.post("/api/jobs", json=job_request(x="-1:1:3", y="-1:1:3")).json()
        big = c.post("/api/jobs", json=job_request(samples=2000, x="-1:1:7", y="-1:1:7")).json()

    # `lossatlas serve` with its embedded worker; a long lease: its heartbeat (every lease/3) comes too late
    # to notice that the server is gone. Each server has a port of its own: what carries over is the data
    second, url = processes.serve(data, tiny_npz, lease_s="30")
    jobs = {j["id"]: j for j in httpx.get(f"{url}/api/jobs").json()["jobs"]}
    assert set(jobs) == {small["id"], big["id"]}
    wait_for(lambda: httpx.get(f"{url}/api/jobs/{big['id']}").json()["points_done"] >= 5, 120, 0.1, "5 points")
    assert httpx.get(f"{url}/api/jobs/{small['id']}").json()["state"] == "done"
    worker_pid = int(JobQueue(data).get(big["id"]).worker.rsplit(":", 1)[1])
    with paused(worker_pid, lambda: between_writes(data), "the worker to pause"):
        assert JobQueue(data).get(big["id"]).points_done <= 47  # it finishes at most the point it is computing
        second.send_signal(signal.SIGKILL)  # a crash: the orphaned worker notices and gives the job back
        second.wait()
    assert url.startswith("http://127.0.0.1:")
    assert f"serving {url}/ (local only; data in {data})" in processes.output(second)
    wait_for(lambda: not alive(worker_pid), 30, 0.2, "the embedded worker to exit with its server")
    assert JobQueue(data).get(big["id"]).state == "queued"

    with ThreadServer(make_settings(data, tiny_npz, embedded_worker=True, worker_threads=1)) as third:
        wait_for(lambda: httpx.get(f"{third.url}/api/jobs/{big['id']}").json()["state"] == "done", 120, 0.2, "done")
    queue = JobQueue(data)
    for job, total in ((small, 9), (big, 49)):
        assert sum(queue.computed_by(job["id"]).values()) == total
        assert len({(p.ix, p.iy) for p in queue.points_since(job["id"])}) == total
    assert len(queue.computed_by(big["id"])) == 2  # the two embedded workers shared it


def test_serve_refuses_an_open_network_binding(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert e.value.code == 2
    assert "host 0.0.0.0 is reachable from the network: set a token" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
