"""A job's surface title (``surfaces/<id>.meta.json``): written as the job is queued, removed with a job
that ends without a surface file (they used to pile up), kept by whatever still needs it: the job asked
again, a surface file written as the job was cancelled, a resubmission racing a deletion."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from serverkit import ThreadServer, job_request, make_settings

from server.catalog import Catalog, Entry
from server.settings import DatasetSource
from workers import SurfaceSpec, compute_surface
from workers.h5io import write_surface
from workers.jobloop import Worker
from workers.jobqueue import JobQueue


def _tensors(path: Path, test_samples: int) -> None:
    rng = np.random.default_rng(test_samples)
    x = rng.integers(0, 256, (test_samples, 16, 16, 3), dtype=np.uint8)
    np.savez(
        path, x_train=x, y_train=rng.integers(0, 10, test_samples), x_test=x, y_test=rng.integers(0, 10, test_samples)
    )


@pytest.fixture
def server(tmp_path: Path, tiny_npz: Path) -> Iterator[ThreadServer]:
    """No worker (the tests run one when they need it); dataset ``growing``: 5 samples a split for now."""
    _tensors(tmp_path / "growing.npz", 5)
    datasets = {
        "tiny": DatasetSource(kind="tensors", root=tiny_npz),
        "growing": DatasetSource(kind="tensors", root=tmp_path / "growing.npz"),
    }
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz, datasets=datasets)) as s:
        yield s


def _files(server: ThreadServer) -> list[str]:
    return sorted(p.name for p in server.settings.surfaces_dir.glob("*"))


def _title(c: httpx.Client, surface_id: str) -> str | None:
    """The surface's title as listed ("not listed" when it is not)."""
    return next((s["name"] for s in c.get("/api/surfaces").json()["surfaces"] if s["id"] == surface_id), "not listed")


SMALL = {"samples": 10, "x": "-1:1:2", "y": None}


def test_a_job_that_fails_before_its_first_point_leaves_no_title_and_gets_one_when_asked_again(
    server: ThreadServer, tmp_path: Path
):
    with server.client() as c:
        request = job_request(dataset="growing", split="test", name="first try", **SMALL)
        job = c.post("/api/jobs", json=request).json()
        assert _files(server) == [f"{job['surface_id']}.meta.json"]
        server.work()
        job = c.get(f"/api/jobs/{job['id']}").json()
        assert (job["state"], job["error"]) == ("failed", "asked for 10 samples but the test split has only 5")
        assert _files(server) == []
        _tensors(tmp_path / "growing.npz", 20)  # the operator adds the data
        again = c.post("/api/jobs", json={**request, "name": "second try"})
        assert (again.status_code, again.json()["id"]) == (202, job["id"])
        server.work()
        assert c.get(f"/api/jobs/{job['id']}").json()["state"] == "done"
        assert _title(c, job["surface_id"]) == "second try"


def test_a_job_cancelled_before_its_first_point_leaves_no_title(server: ThreadServer):
    with server.client() as c:
        job = c.post("/api/jobs", json=job_request(name="cancelled", **SMALL)).json()
        assert c.delete(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
        assert _files(server) == []
        assert c.post("/api/jobs", json=job_request(name="wanted after all", **SMALL)).status_code == 202
        server.work()
        assert _title(c, job["surface_id"]) == "wanted after all"


def test_a_job_cancelled_while_its_worker_writes_its_first_point_keeps_its_title(server: ThreadServer):
    """The worker holds the job's fence while it writes the surface file: the cancel cannot tell whether
    the file will exist, so the title stays (the file does)."""
    queue = JobQueue(server.settings.data_dir)
    with server.client() as c:
        job = c.post("/api/jobs", json=job_request(name="cut short", **SMALL)).json()
        claim = queue.claim("w-stalled", 30)
        with queue.fenced(claim, 30):
            assert c.delete(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
            # the worker's write: its own writer (a worker's skips the output lock; the fence is held here)
            spec = SurfaceSpec.model_validate(claim.spec)
            compute_surface(spec, queue.surface_path(claim), write=lambda path, s: write_surface(path, s))
        assert _title(c, job["surface_id"]) == "cut short"


def test_a_job_cancelled_while_its_worker_computes_its_first_point_leaves_no_direction_file(server: ThreadServer):
    """The worker writes the direction file just before the first point's surface file; cancelled
    meanwhile, that write is refused and the job lost, after the cancel had tidied up: the direction file
    used to stay in surfaces/, named by no surface."""
    queue = JobQueue(server.settings.data_dir)
    with server.client() as c:
        job = c.post("/api/jobs", json=job_request(name="cut short", **SMALL)).json()
        worker = Worker(queue, "w-cancelled")
        claim = queue.claim(worker.id, worker.lease_s)
        assert c.delete(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
        assert worker.run_job(claim) == "lost"  # it computed the point, wrote the directions, then was refused
        assert _files(server) == []
        again = c.post("/api/jobs", json=job_request(name="again", **SMALL)).json()  # asked again: whole
        server.work()
        assert c.get(f"/api/jobs/{again['id']}").json()["state"] == "done"
        assert _files(server) == [f"{job['surface_id']}{suffix}" for suffix in (".dirs.h5", ".h5", ".meta.json")]


class _PausedDelete(Catalog):
    """The real catalog, whose deletion stops after removing the surface file to let ``meanwhile`` run,
    where a resubmission of another client used to fall between the file's removal and the title's."""

    def __init__(self, catalog: Catalog, meanwhile):
        super().__init__(catalog.gallery_dir, catalog.user_dir)
        self.meanwhile = meanwhile

    def delete(self, entry: Entry) -> None:
        entry.path.unlink()
        self.meanwhile()
        super().delete(entry)


def _delete_while(
    server: ThreadServer, c: httpx.Client, surface_id: str, request: Callable[[httpx.Client], httpx.Response]
) -> httpx.Response:
    """Delete ``surface_id`` with ``c``, and send ``request`` from another client once the deletion has
    removed the surface file (it is given 1 s there: an answer must not come before the deletion ends);
    returns its answer."""
    answers: list[httpx.Response] = []

    def send() -> None:
        with server.client() as other:
            answers.append(request(other))

    thread = threading.Thread(target=send)

    def meanwhile() -> None:
        thread.start()
        thread.join(1)

    app = server.server.config.app
    real = app.state.catalog
    try:
        app.state.catalog = _PausedDelete(real, meanwhile)
        assert c.delete(f"/api/surfaces/{surface_id}").status_code == 204
    finally:
        app.state.catalog = real
    thread.join(30)
    return answers[0]


def test_a_surface_asked_again_while_it_is_deleted_keeps_the_new_title(server: ThreadServer):
    """The resubmission is sent once the deletion has removed the file; it used to be queued then and its
    title removed by the rest of the deletion. Now the deletion holds the queue: the resubmission waits
    for it (the 1 s bound only limits how long the test waits for an answer that must not come first)."""
    with server.client() as c:
        job = c.post("/api/jobs", json=job_request(name="old title", **SMALL)).json()
        server.work()
        assert _title(c, job["surface_id"]) == "old title"
        resubmitted = _delete_while(
            server,
            c,
            job["surface_id"],
            lambda other: other.post("/api/jobs", json=job_request(name="new title", **SMALL)),
        )  # before the fix: answered during the deletion, queued again with its title
        assert (resubmitted.status_code, resubmitted.json()["id"]) == (202, job["id"])
        server.work()
        assert c.get(f"/api/jobs/{job['id']}").json()["state"] == "done"
        assert _title(c, job["surface_id"]) == "new title"


def test_a_surface_imported_again_while_it_is_deleted_is_kept_whole(server: ThreadServer, tmp_path: Path):
    """The same file imported again once the deletion has removed the file: the rest of the deletion used
    to remove the new import's file and title, after it was answered 201. Now it waits for the deletion."""
    spec = SurfaceSpec(
        model="tinycnn", dataset="tensors", data_root=str(tmp_path / "growing.npz"), samples=5, x="-1:1:2"
    )
    compute_surface(spec, tmp_path / "same.h5")
    data = (tmp_path / "same.h5").read_bytes()
    with server.client() as c:
        first = c.post("/api/surfaces/import", files={"file": ("same.h5", data)}).json()
        again = _delete_while(
            server, c, first["id"], lambda other: other.post("/api/surfaces/import", files={"file": ("same.h5", data)})
        )  # before the fix: answered during the deletion
        assert (again.status_code, again.json()) == (201, first)
        assert _title(c, first["id"]) == "same"
        assert c.get(f"/api/surfaces/{first['id']}/file").content == data
