"""/api/jobs and /api/checkpoints against a real server and a real worker process."""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import httpx
import numpy as np
import pytest
import torch
from serverkit import (
    TOKEN,
    Processes,
    ThreadServer,
    between_writes,
    direct_surface,
    job_request,
    make_settings,
    paused,
)
from support import wait_for

from server.schemas import Job, Mesh
from server.settings import DatasetSource
from workers import read_surface
from workers.checkpoints import load_model
from workers.zoo import list_models


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    """A server without a token and one worker process."""
    root = tmp_path_factory.mktemp("busy")
    procs = Processes()
    with ThreadServer(make_settings(root / "data", tiny_npz)) as server:
        server.worker = procs.worker(server.settings.data_dir, worker_id="w-busy")
        yield server
    procs.kill_all()


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    """A server with a token, tight limits and no worker: jobs stay queued."""
    root = tmp_path_factory.mktemp("idle")
    settings = make_settings(
        root / "data",
        tiny_npz,
        token=TOKEN,
        max_points=400,
        max_samples=1000,
        max_queued_jobs=2,
        max_batch_size=512,
        datasets={
            "tiny": DatasetSource(kind="tensors", root=tiny_npz),
            "gone": DatasetSource(kind="tensors", root=root / "missing.npz"),
        },
    )
    with ThreadServer(settings) as server:
        yield server


def read_events(url: str, timeout: float = 120) -> list[tuple[str, dict]]:
    """All events of a stream until the server ends it."""
    events, kind = [], None
    with httpx.stream("GET", url, timeout=timeout) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[len("data: ") :])))
    return events


def wait_state(c: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float = 120) -> dict:
    return wait_for(
        lambda: (j := c.get(f"/api/jobs/{job_id}").json())["state"] in states and j,
        timeout,
        0.2,
        f"job {job_id} to reach {states}",
    )


def _checkpoint(tmp_path: Path) -> Path:
    """tinycnn weights that differ from the zoo's seeded initialisation."""
    torch.manual_seed(5)
    model = load_model("tinycnn", None)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


def test_job_with_uploaded_weights_streams_and_equals_the_engine(busy: ThreadServer, tiny_npz: Path, tmp_path: Path):
    ckpt = _checkpoint(tmp_path)
    with busy.client() as c:
        up = c.post("/api/checkpoints", files={"file": ("tiny.pt", ckpt.read_bytes())}, data={"model": "tinycnn"})
        assert up.status_code == 201, up.text
        cid = up.json()["id"]
        request = job_request(checkpoint_id=cid, split="both", name="weights test")
        r = c.post("/api/jobs", json=request)
        assert r.status_code == 202, r.text
        job = Job.model_validate(r.json())
        assert job.url == f"/api/jobs/{job.id}" and job.points_total == 25 and job.state in ("queued", "running")
        events = read_events(f"{busy.url}/api/jobs/{job.id}/events")
        assert events[-1][0] == "state" and events[-1][1]["state"] == "done"
        points = [(p["ix"], p["iy"], p["values"]) for kind, e in events if kind == "progress" for p in e["points"]]
        assert sorted((ix, iy) for ix, iy, _ in points) == [(ix, iy) for ix in range(5) for iy in range(5)]

        file = c.get(f"/api/surfaces/{job.surface_id}/file")
        path = tmp_path / "got.h5"
        path.write_bytes(file.content)
        got = read_surface(path)
        request["checkpoint"] = str(ckpt)
        expected = direct_surface(request, tiny_npz)
        assert got.recipe["checkpoint_sha256"] == up.json()["sha256"] == expected.recipe["checkpoint_sha256"]
        for name, values in expected.metrics.items():
            np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)
        for ix, iy, values in points:  # the streamed values are the computed ones
            assert values == {m: v[iy, ix] for m, v in expected.metrics.items()}

        mesh = Mesh.model_validate(c.get(f"/api/surfaces/{job.surface_id}").json())
        assert mesh.complete and mesh.name == "weights test" and mesh.summary.dataset == "tiny"
        assert mesh.summary.metrics == ["train_loss", "train_acc", "test_loss", "test_acc"]
        assert mesh.recipe["spec"]["checkpoint"] == f"{cid}.pt" and mesh.recipe["spec"]["data_root"] == "tiny.npz"

        again = c.post("/api/jobs", json={**job_request(checkpoint_id=cid, split="both"), "name": "other title"})
        assert again.status_code == 200 and again.json()["id"] == job.id and again.json()["state"] == "done"
        assert c.get("/api/jobs").json()["jobs"][0]["id"] == job.id
        # a finished job's stream: every point at once, then the state, then the end
        replay = read_events(f"{busy.url}/api/jobs/{job.id}/events")
        assert [k for k, _ in replay] == ["progress", "state"] and len(replay[0][1]["points"]) == 25
        r = c.delete(f"/api/jobs/{job.id}")
        assert (r.status_code, r.json()) == (
            409,
            {"detail": f"job {job.id} has already ended (done); nothing to cancel"},
        )
        r = c.delete(f"/api/surfaces/{job.surface_id}")
        assert r.status_code == 204
        # its surface deleted, the same request computes it again
        assert c.post("/api/jobs", json=job_request(checkpoint_id=cid, split="both")).status_code == 202
        wait_state(c, job.id, ("done",))


def test_hessian_job_maps_the_eigenvalues_and_config_states_the_cost(
    busy: ThreadServer, tiny_npz: Path, tmp_path: Path
):
    with busy.client() as c:
        cost = c.get("/api/config").json()["hessian"]
        assert cost["hvps_per_point"] == cost["defaults"]["max_steps"] == 100
        assert cost["forward_equivalents_per_hvp"] > 1 and cost["summary_hvps"] > 0
        request = job_request(
            samples=24,
            x="-1:1:3",
            y=None,
            hessian={"max_steps": 30, "top_k": 2, "trace_samples": 4, "density_steps": 10},
        )
        r = c.post("/api/jobs", json=request)
        assert r.status_code == 202, r.text
        events = read_events(f"{busy.url}/api/jobs/{r.json()['id']}/events")
        assert events[-1][1]["state"] == "done", events[-1]
        path = tmp_path / "eig.h5"
        path.write_bytes(c.get(f"/api/surfaces/{r.json()['surface_id']}/file").content)
        got, expected = read_surface(path), direct_surface(request, tiny_npz)
        for name in ("max_eig", "min_eig", "train_loss"):
            np.testing.assert_array_equal(got.metrics[name], expected.metrics[name], err_msg=name)
        assert got.recipe["spec"]["hessian"]["max_steps"] == 30
        mesh = Mesh.model_validate(c.get(f"/api/surfaces/{r.json()['surface_id']}").json())
        assert mesh.summary.metrics == ["train_loss", "train_acc", "max_eig", "min_eig", "eig_ratio"]
        assert mesh.summary.split == "train"
        assert mesh.curvature == got.attrs["curvature"] == expected.attrs["curvature"]
        assert len(mesh.curvature["top_eigenvalues"]) == 2 and len(mesh.curvature["density_nodes"][0]) == 10
        ratio = [abs(lo / hi) for lo, hi in zip(expected.metrics["min_eig"], expected.metrics["max_eig"])]
        np.testing.assert_allclose(mesh.metrics["eig_ratio"], ratio, rtol=1e-6)


def test_cancel_a_running_job_then_resume_it(busy: ThreadServer):
    request = job_request(samples=1000, x="-1:1:9", y="-1:1:9")
    with busy.client() as c:
        job = c.post("/api/jobs", json=request).json()
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["points_done"] >= 3, 120, 0.1, "3 points")
        path = busy.settings.surfaces_dir / f"{job['surface_id']}.h5"
        # paused outside its fence: once cancelled, the job takes no more writes
        with paused(busy.worker.pid, lambda: between_writes(busy.settings.data_dir), "the worker to pause"):
            cancelled = c.delete(f"/api/jobs/{job['id']}")
            assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
            stopped = int(read_surface(path).done.sum())
        assert 3 <= stopped < 81
        # the worker is free again: a small job is done
        small = c.post("/api/jobs", json=job_request(x="-1:1:3", y=None)).json()
        assert wait_state(c, small["id"], ("done",))["points_done"] == 3
        assert c.get(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
        assert int(read_surface(path).done.sum()) == stopped
        resumed = c.post("/api/jobs", json=request)  # asked again: the same job resumes its file
        assert resumed.status_code == 202 and resumed.json()["id"] == job["id"]
        assert wait_state(c, job["id"], ("done",))["points_done"] == 81
    queue = busy.server.config.app.state.queue
    assert sum(queue.computed_by(job["id"]).values()) == 81  # nothing computed twice
    assert len({(p.ix, p.iy) for p in queue.points_since(job["id"])}) == 81


def test_a_job_asked_again_after_its_surface_was_deleted_starts_afresh_under_the_new_name(busy: ThreadServer):
    """The re-queued job shows no points done (its file is gone, and its points with it) and the new
    request's name; it keeps its id, surface, cost and creation time."""
    request = job_request(samples=50, sample_seed=21, x="-1:1:3", y=None, name="first")
    with busy.client() as c:
        first = wait_state(c, c.post("/api/jobs", json=request).json()["id"], ("done",))
        assert first["points_done"] == 3
        assert c.delete(f"/api/surfaces/{first['surface_id']}").status_code == 204
        r = c.get(f"/api/surfaces/{first['surface_id']}")  # its job is done: the surface was deleted
        assert (r.status_code, r.json()) == (404, {"detail": f"no surface {first['surface_id']!r}"})
        r = c.post("/api/jobs", json={**request, "name": "second"})
        assert r.status_code == 202, r.text
        again = r.json()
        assert (again["state"], again["points_done"], again["points_total"], again["request"]["name"]) == (
            "queued",
            0,
            3,
            "second",
        )
        kept = ("id", "surface_id", "cost_tflop", "created")
        assert {k: again[k] for k in kept} == {k: first[k] for k in kept}
        assert wait_state(c, first["id"], ("done",))["points_done"] == 3
        events = read_events(f"{busy.url}/api/jobs/{first['id']}/events")
        assert sorted((p["ix"], p["iy"]) for p in events[0][1]["points"]) == [(0, 0), (1, 0), (2, 0)]  # once each
        assert c.get(f"/api/surfaces/{first['surface_id']}").json()["name"] == "second"


def test_partial_surface_of_a_running_job_is_served(busy: ThreadServer):
    with busy.client() as c:
        job = c.post("/api/jobs", json=job_request(samples=1500, x="-1:1:7", y="-1:1:7")).json()
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["points_done"] >= 2, 120, 0.1, "2 points")
        with paused(busy.worker.pid, lambda: between_writes(busy.settings.data_dir), "the worker to pause"):
            mesh = c.get(f"/api/surfaces/{job['surface_id']}").json()
            assert not mesh["complete"] and 2 <= mesh["points_done"] < 49
            assert sum(map(sum, mesh["done"])) == mesh["points_done"]
            running = c.get(f"/api/jobs/{job['id']}").json()
            r = c.delete(f"/api/surfaces/{job['surface_id']}")
            assert (r.status_code, r.json()["detail"]) == (
                409,
                f"job {job['id']} is running on surface {job['surface_id']!r}; cancel it first",
            )
            assert running["rate"] > 0 and running["eta"] >= 0
        wait_state(c, job["id"], ("done",))


def test_cancel_a_queued_job_and_job_404s(idle: ThreadServer):
    with idle.client(TOKEN) as c:
        job = c.post("/api/jobs", json=job_request(sample_seed=7)).json()
        assert job["state"] == "queued"
        assert c.delete(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
        assert c.delete(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
        assert [k for k, _ in read_events(f"{idle.url}/api/jobs/{job['id']}/events")] == ["progress", "state"]
        for r in (c.get("/api/jobs/nope"), c.delete("/api/jobs/nope"), c.get("/api/jobs/nope/events")):
            assert (r.status_code, r.json()) == (404, {"detail": "no job 'nope'"})


def test_the_surface_of_a_queued_job_names_its_job(idle: ThreadServer):
    """Before a worker starts a job, its surface_id is a 404 that points at the job, not a bare 'no surface'."""
    with idle.client(TOKEN) as c:
        job = c.post("/api/jobs", json=job_request(sample_seed=8)).json()
        waiting = f"surface {job['surface_id']!r} has no points yet: its job is queued (see /api/jobs/{job['id']})"
        for r in (c.get(f"/api/surfaces/{job['surface_id']}"), c.delete(f"/api/surfaces/{job['surface_id']}")):
            assert (r.status_code, r.json()) == (404, {"detail": waiting})
        c.delete(f"/api/jobs/{job['id']}")
        r = c.get(f"/api/surfaces/{job['surface_id']}/file")
        cancelled = f"surface {job['surface_id']!r} has no points: its job was cancelled (see /api/jobs/{job['id']})"
        assert (r.status_code, r.json()) == (404, {"detail": cancelled})
        r = c.get("/api/surfaces/tinycnn-tiny-0123456789")  # no job ever wrote it
        assert (r.status_code, r.json()) == (404, {"detail": "no surface 'tinycnn-tiny-0123456789'"})


def test_an_identical_request_says_it_got_the_existing_job_whose_name_was_kept(idle: ThreadServer):
    """The name is not part of what makes two requests identical: the second gets the first's job (200),
    and `existing` says so, where it used to leave the client to guess why its name was not taken."""
    with idle.client(TOKEN) as c:
        first = c.post("/api/jobs", json=job_request(sample_seed=9, name="first"))
        assert first.status_code == 202 and first.json()["existing"] is False
        again = c.post("/api/jobs", json=job_request(sample_seed=9, name="second"))
        assert again.status_code == 200
        assert again.json() == {**first.json(), "existing": True}  # the first job as it was: its name kept
        assert again.json()["request"]["name"] == "first"
        shown = [c.get(first.json()["url"]).json(), *c.get("/api/jobs").json()["jobs"]]
        assert [j["existing"] for j in shown if j["id"] == first.json()["id"]] == [False, False]  # POST's answer only
        c.delete(first.json()["url"])


def test_queue_limit(idle: ThreadServer):
    with idle.client(TOKEN) as c:
        first = c.post("/api/jobs", json=job_request(sample_seed=1))
        second = c.post("/api/jobs", json=job_request(sample_seed=2))
        assert first.status_code == second.status_code == 202
        r = c.post("/api/jobs", json=job_request(sample_seed=3))
        assert (r.status_code, r.json()) == (
            429,
            {
                "detail": "2 jobs are queued or running, the server's limit "
                "max_queued_jobs=2; wait for one to finish or cancel one"
            },
        )
        assert c.post("/api/jobs", json=job_request(sample_seed=1)).status_code == 200  # existing: still answered
        for job in (first, second):
            c.delete(f"/api/jobs/{job.json()['id']}")


def test_a_queue_limit_of_one_job_says_one_job(tmp_path: Path, tiny_npz: Path):
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz, max_queued_jobs=1)) as server, server.client() as c:
        assert c.post("/api/jobs", json=job_request(sample_seed=1)).status_code == 202
        r = c.post("/api/jobs", json=job_request(sample_seed=2))
        assert (r.status_code, r.json()) == (
            429,
            {
                "detail": "1 job is queued or running, the server's limit max_queued_jobs=1; "
                "wait for one to finish or cancel one"
            },
        )


MODELS = ", ".join(list_models())


@pytest.mark.parametrize(
    "change, status, detail",
    [
        ({"model": "nope"}, 422, "model 'nope' is not available; choose one of: " + MODELS),
        (
            {"model": "tinycnnn"},
            422,
            "model 'tinycnnn' is not available (did you mean tinycnn?); choose one of: " + MODELS,
        ),
        ({"dataset": "cifar10"}, 422, "dataset 'cifar10' is not configured on this server; choose one of: tiny, gone"),
        ({"dataset": "gone"}, 409, "dataset 'gone' is configured but its data is missing on the server"),
        ({"x": "-1:1:21", "y": "-1:1:20"}, 422, "the grid has 420 points, more than the server's limit max_points=400"),
        ({"samples": 1001}, 422, "samples=1001 is more than the server's limit max_samples=1000"),
        (
            {"samples": None},
            422,
            "samples: give a number: the server evaluates a seeded subset of at most max_samples (see /api/config) samples "
            "per split",
        ),
        ({"x": "-1e308:1e308:5"}, 422, "x: axis -1e+308:1e+308 spans more than a float64 holds; choose closer ends"),
        ({"y": {"min": 0, "max": "NaN", "num": 3}}, 422, "y: axis ends must be finite numbers, got 0.0:nan"),
        ({"batch_size": 513}, 422, "batch_size=513 is more than the server's limit max_batch_size=512"),
        ({"samples": True}, 422, "samples: Input should be a valid integer"),  # not 1 sample
        ({"x": [-1, 1, 5]}, 422, 'x: give "min:max:num" (e.g. "-1:1:51") or {"min", "max", "num"}, not an array'),
        ({"hessian": True}, 422, "hessian: give a JSON object of its fields (see /docs), not true or false"),
        ({"model": "m" * 10_000}, 422, "model: String should have at most 100 characters"),  # not echoed back
        ({"dataset": "d" * 101}, 422, "dataset: String should have at most 100 characters"),
        ({"batch_size": "64"}, 422, "batch_size: Input should be a valid integer"),
        ({"directions": {"seed": 2.0}}, 422, "directions.seed: Input should be a valid integer"),
        ({"x": "1:-1:5"}, 422, "x: axis min must be below max, got 1.0:-1.0"),
        ({"x": "1:2"}, 422, "x: axis '1:2' is not min:max:num (for example -1:1:51)"),
        ({"split": "valid"}, 422, "split: Input should be 'train', 'test' or 'both'"),
        ({"data_root": "/etc"}, 422, "data_root: Extra inputs are not permitted"),
        (
            {"directions": {"kind": "target", "target": "/etc/passwd"}},
            422,
            "directions.kind: Input should be 'random' or 'pca'; directions.target: Extra inputs are not permitted",
        ),
        (
            {"directions": {"kind": "pca"}},
            422,
            "pca directions need the path: checkpoint_ids (uploaded checkpoints, in order, at least 3) "
            "or run (a gallery run, see GET /api/checkpoints)",
        ),
        (
            {"directions": {"kind": "pca", "checkpoint_ids": ["0123456789abcdef"] * 2}},
            422,
            "directions.checkpoint_ids: List should have at least 3 items after validation, not 2",
        ),
        (
            {"directions": {"kind": "pca", "checkpoint_ids": ["0123456789abcdef"] * 3}},
            404,
            "no checkpoint '0123456789abcdef'; upload it with POST /api/checkpoints",
        ),
        (
            {"directions": {"kind": "pca", "checkpoint_ids": ["0123456789abcdef"] * 3}, "y": None},
            422,
            "a pca surface is a plane: give y as well as x",
        ),
        ({"checkpoint_id": "../../etc/passwd"}, 422, "checkpoint_id: String should match pattern '^[0-9a-f]{16}$'"),
        (
            {"checkpoint_id": "0123456789abcdef"},
            404,
            "no checkpoint '0123456789abcdef'; upload it with POST /api/checkpoints",
        ),
        ({"directions": {"same_dir": True}, "y": None}, 422, "same_dir needs a 2-D grid (a y axis)"),
        ({"hessian": {"tol": 2}}, 422, "hessian.tol: Input should be less than 1"),
        ({"hessian": {"method": "power"}}, 422, "hessian.method: Input should be 'lanczos' or 'reference'"),
        (
            {"name": "resnet\u202e4pm.exe"},
            422,
            "name: holds U+202E (RIGHT-TO-LEFT OVERRIDE), a control or text-direction character; remove it",
        ),
        (
            {"name": "\u2067isolated"},
            422,
            "name: holds U+2067 (RIGHT-TO-LEFT ISOLATE), a control or text-direction character; remove it",
        ),
        ({"name": "two\nlines"}, 422, "name: holds U+000A, a control or text-direction character; remove it"),
        ({"name": "red \x1b[31m"}, 422, "name: holds U+001B, a control or text-direction character; remove it"),
        (
            {"name": "a\u2028b"},
            422,
            "name: holds U+2028 (LINE SEPARATOR), a control or text-direction character; remove it",
        ),
        ({"name": "n" * 201}, 422, "name: String should have at most 200 characters"),
    ],
)
def test_job_requests_refused(idle: ThreadServer, change: dict, status: int, detail: str):
    with idle.client(TOKEN) as c:
        before = c.get("/api/jobs").json()
        r = c.post("/api/jobs", json={**job_request(), **change})
        assert (r.status_code, r.json()) == (status, {"detail": detail})
        assert c.get("/api/jobs").json() == before


JSON_BODY = {"Content-Type": "application/json"}
SEND_JSON = "send the body as JSON with Content-Type: application/json; "
SEND_FORM = "send a multipart/form-data form (as curl -F) with the fields "


@pytest.mark.parametrize(
    "path, body, detail",
    [
        (
            "/api/jobs",
            {"content": b"{not json", "headers": JSON_BODY},
            "the body is not valid JSON (Expecting property name enclosed in double quotes at character 1); "
            "send a JSON object of the fields",
        ),
        ("/api/jobs", {"content": json.dumps(job_request())}, SEND_JSON + "the request has no Content-Type"),
        (
            "/api/jobs",
            {"content": json.dumps(job_request()), "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            SEND_JSON + "the request's Content-Type is application/x-www-form-urlencoded",
        ),
        ("/api/jobs", {"json": [job_request()]}, "the body must be a JSON object of the fields, not an array"),
        (
            "/api/jobs",
            {"content": '{"model": ' + "[" * 100_000 + "]" * 100_000 + "}", "headers": JSON_BODY},
            "the body's JSON is nested too deep (arrays or objects inside one another): send a JSON object of the "
            "fields (see /docs)",
        ),  # too deep for Python's parser: was a 400 "There was an error parsing the body"
        (
            "/api/jobs",
            {"content": '{"samples": 1' + "0" * 4300 + "}", "headers": JSON_BODY},
            "a number in the body has more than 4300 digits, more than any field takes: send each field's value in "
            "its range (see /docs)",
        ),  # Python's int max-str-digits: was "the body cannot be parsed as JSON"
        (
            "/api/jobs",
            {"content": b'{"model": "tiny\xffcnn"}', "headers": JSON_BODY},
            "the body is not UTF-8 text (byte 15 is not UTF-8): send the JSON as UTF-8",
        ),
        ("/api/jobs", {}, "the request has no body: send a JSON object of the fields (Content-Type: application/json)"),
        (
            "/api/checkpoints",
            {"json": {"model": "tinycnn"}},
            SEND_FORM + "file, model; the request's Content-Type is application/json",
        ),
        ("/api/surfaces/import", {}, SEND_FORM + "file; the request has no Content-Type"),
        (
            "/api/checkpoints",
            {"files": {"model": (None, "tinycnn"), "file": (None, "weights.pt")}},
            "file: send a file here (a form part with a filename, as curl -F file=@PATH), not text",
        ),
    ],
)
def test_a_body_the_route_cannot_read_names_what_to_send(idle: ThreadServer, path: str, body: dict, detail: str):
    def state(c: httpx.Client) -> tuple:
        return c.get("/api/jobs").json(), sorted(idle.settings.data_dir.rglob("*"))

    with idle.client(TOKEN) as c:
        before = state(c)
        r = c.post(path, **body)
        assert (r.status_code, r.json()) == (422, {"detail": detail})
        assert state(c) == before  # nothing queued, no file written


class Payload:
    """Pickled, this would run code when loaded without weights_only."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def test_checkpoint_uploads_refused(idle: ThreadServer, tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"conv1.weight": Payload(marker)}, evil)
    mnist = tmp_path / "mnist.pt"
    torch.save(load_model("tinycnn_mnist", None).state_dict(), mnist)
    good = _checkpoint(tmp_path)
    with idle.client(TOKEN) as c:
        r = c.post("/api/checkpoints", files={"file": ("evil.pt", evil.read_bytes())}, data={"model": "tinycnn"})
        assert r.status_code == 400 and r.json()["detail"].startswith(
            "not usable as weights of tinycnn: the checkpoint is not a weights file torch can load safely "
            "(it holds pickled objects, not only tensors)"
        )
        assert not marker.exists()
        r = c.post("/api/checkpoints", files={"file": ("m.pt", mnist.read_bytes())}, data={"model": "tinycnn"})
        assert (r.status_code, r.json()) == (
            400,
            {
                "detail": "not usable as weights of tinycnn: the checkpoint "
                "does not fit model 'tinycnn': 1 wrong shape: conv1.weight (8, 1, 3, 3) vs (8, 3, 3, 3); it holds the "
                "weights of tinycnn_mnist: choose that model"
            },
        )
        with h5py.File(tmp_path / "surface.h5", "w") as f:
            f["xcoordinates"] = np.linspace(-1, 1, 3)
        surface = (tmp_path / "surface.h5").read_bytes()
        r = c.post("/api/checkpoints", files={"file": ("s.pt", surface)}, data={"model": "tinycnn"})
        assert (r.status_code, r.json()["detail"]) == (
            400,
            "not usable as weights of tinycnn: the checkpoint is an HDF5 file (a loss surface or direction file?), "
            "not a PyTorch checkpoint; pass a file saved with torch.save(model.state_dict())",
        )
        r = c.post("/api/checkpoints", files={"file": ("cut.pt", good.read_bytes()[:-50])}, data={"model": "tinycnn"})
        assert (r.status_code, r.json()["detail"]) == (
            400,
            "not usable as weights of tinycnn: the checkpoint is truncated or damaged: it starts as a PyTorch "
            "checkpoint but its archive does not end properly; copy the whole file again",
        )
        r = c.post("/api/checkpoints", files={"file": ("g.pt", good.read_bytes())}, data={"model": "evil:code"})
        assert r.status_code == 422 and r.json()["detail"].startswith("model 'evil:code' is not available")
        r = c.post("/api/checkpoints", files={"file": ("g.pt", good.read_bytes())}, data={"model": "m" * 10_000})
        assert (r.status_code, r.json()) == (422, {"detail": "model: String should have at most 100 characters"})
        r = c.post("/api/checkpoints", files={"file": ("g\u202etp.exe", good.read_bytes())}, data={"model": "tinycnn"})
        assert (r.status_code, r.json()) == (
            422,
            {
                "detail": "the file's name holds U+202E (RIGHT-TO-LEFT OVERRIDE), a control or text-direction "
                "character; remove it"
            },
        )
        assert not list(idle.settings.checkpoints_dir.glob("*")) and not list(idle.settings.uploads_dir.glob("*"))
        cid = c.post("/api/checkpoints", files={"file": ("g.pt", good.read_bytes())}, data={"model": "tinycnn"}).json()[
            "id"
        ]
        r = c.post("/api/jobs", json=job_request(model="tinycnn_mnist", checkpoint_id=cid))
        assert (r.status_code, r.json()) == (
            422,
            {"detail": f"checkpoint {cid} was uploaded for model 'tinycnn', not 'tinycnn_mnist'"},
        )


def _weights(tmp_path: Path, seed: int) -> bytes:
    """A tinycnn state dict of its own (the zoo's initialisation is seeded: the same for every test)."""
    model = load_model("tinycnn", None)
    with torch.no_grad():
        model.conv1.weight.fill_(seed)
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    return path.read_bytes()


def _upload(server: ThreadServer, name: str, data: bytes) -> httpx.Response:
    with server.client(TOKEN) as c:
        return c.post("/api/checkpoints", files={"file": (name, data)}, data={"model": "tinycnn"})


def test_the_same_checkpoint_file_uploaded_again_is_the_same_checkpoint(idle: ThreadServer, tmp_path: Path):
    """A checkpoint is its content (its id: the start of its sha256): uploading the file again under
    another name answers 200 with the checkpoint as first recorded. The second name used to replace the
    first."""
    data = _weights(tmp_path, 11)
    sha = hashlib.sha256(data).hexdigest()
    first = {"id": sha[:16], "sha256": sha, "model": "tinycnn", "name": "epoch-10.pt"}
    r = _upload(idle, "epoch-10.pt", data)
    assert (r.status_code, r.json()) == (201, first)
    record = idle.settings.checkpoints_dir / f"{sha[:16]}.json"
    stored = record.read_bytes()
    r = _upload(idle, "final.pt", data)
    assert (r.status_code, r.json()) == (200, first)
    assert record.read_bytes() == stored
    assert (idle.settings.checkpoints_dir / f"{sha[:16]}.pt").read_bytes() == data
    with idle.client() as c:
        assert [u for u in c.get("/api/checkpoints").json()["uploaded"] if u["sha256"] == sha] == [first]
    assert not list(idle.settings.uploads_dir.glob("*"))


def test_uploads_of_one_file_at_once_record_one_checkpoint(idle: ThreadServer, tmp_path: Path):
    """Uploads of one new file racing each other: one 201, the others 200 with its record (each upload's
    name used to be written over the others')."""
    data = _weights(tmp_path, 12)
    barrier = threading.Barrier(6)
    answers: list[httpx.Response] = []

    def upload(i: int) -> None:
        barrier.wait()
        answers.append(_upload(idle, f"n{i}.pt", data))

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200] * 5 + [201]
    created = next(r.json() for r in answers if r.status_code == 201)
    assert all(r.json() == created for r in answers)
    with idle.client() as c:
        assert [u for u in c.get("/api/checkpoints").json()["uploaded"] if u["sha256"] == created["sha256"]] == [
            created
        ]


def _deflated(source: Path, dest: Path) -> bytes:
    """``source`` (a torch.save file) with its entries compressed: torch.load still reads it."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    return dest.read_bytes()


def test_a_checkpoint_that_unpacks_past_the_upload_limit_is_refused_before_it_is_loaded(tmp_path: Path, tiny_npz: Path):
    """torch.load unpacks every tensor before the shapes are checked: 8 MiB of zeros deflate to a few KB,
    so a 100 MB upload could stand for terabytes. Compressed files within the limit still load."""
    torch.save({"conv1.weight": torch.zeros(2**21)}, tmp_path / "zeros.pt")
    bomb = _deflated(tmp_path / "zeros.pt", tmp_path / "bomb.pt")
    assert len(bomb) < 2**20 // 10
    _weights(tmp_path, 3)  # saved as w.pt
    good = _deflated(tmp_path / "w.pt", tmp_path / "good.pt")
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz, max_upload_mb=1)) as server:
        r = _upload(server, "bomb.pt", bomb)
        assert (r.status_code, r.json()) == (
            400,
            {
                "detail": "the checkpoint unpacks to 8.0 MiB, more than the server's limit max_upload_mb=1; "
                "upload a file saved with torch.save(model.state_dict()) (uncompressed)"
            },
        )
        assert _upload(server, "good.pt", good).status_code == 201
        assert not list(server.settings.uploads_dir.glob("*"))


def test_an_unreadable_checkpoint_record_hides_only_itself_and_uploading_again_repairs_it(
    tmp_path: Path, tiny_npz: Path
):
    """An older version wrote a checkpoint's record in place (a full disk cut it short): the listing and
    every job naming it were a 500."""
    kept, broken = _weights(tmp_path, 21), _weights(tmp_path, 22)
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz)) as server, server.client() as c:
        ok = _upload(server, "kept.pt", kept).json()
        cut = _upload(server, "broken.pt", broken).json()
        record = server.settings.checkpoints_dir / f"{cut['id']}.json"
        record.write_text(record.read_text()[:10])
        assert c.get("/api/checkpoints").json()["uploaded"] == [ok]
        r = c.post("/api/jobs", json=job_request(checkpoint_id=cut["id"]))
        assert (r.status_code, r.json()) == (
            404,
            {"detail": f"no checkpoint {cut['id']!r}; upload it with POST /api/checkpoints"},
        )
        r = _upload(server, "again.pt", broken)
        assert (r.status_code, r.json()) == (201, {**cut, "name": "again.pt"})
        assert c.get("/api/checkpoints").json()["uploaded"] == [ok, r.json()]
        assert c.post("/api/jobs", json=job_request(checkpoint_id=cut["id"])).status_code == 202


def test_many_event_streams_share_one_reader_of_the_queue(tmp_path: Path, tiny_npz: Path):
    """20 streams of one job: one feed polls the queue for all of them, and each gets every point. The
    worker starts once all 20 follow the queued job (a running job could finish before they attach)."""
    procs = Processes()
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz)) as server:
        feeds = server.server.config.app.state.feeds
        with server.client() as c:
            job = c.post("/api/jobs", json=job_request(sample_seed=20, x="-1:1:4", y="-1:1:4")).json()
        url = f"{server.url}/api/jobs/{job['id']}/events"
        results: list[list] = []

        def follow() -> None:
            results.append(read_events(url))

        streams = [threading.Thread(target=follow) for _ in range(20)]
        for t in streams:
            t.start()
        try:
            wait_for(lambda: job["id"] in feeds.active and feeds.active[job["id"]].followers == 20, 60, 0.05, "20")
            assert list(feeds.active) == [job["id"]]  # one feed, not one poller per stream
            procs.worker(server.settings.data_dir)
            for t in streams:
                t.join(180)
        finally:
            procs.kill_all()
    assert len(results) == 20 and not feeds.active  # the feed stopped with its last follower
    for events in results:
        points = {(p["ix"], p["iy"]) for kind, data in events if kind == "progress" for p in data["points"]}
        assert len(points) == 16 and events[-1][0] == "state" and events[-1][1]["state"] == "done"


def test_config_names_the_norms_and_splits_the_job_schema_accepts(idle: ThreadServer):
    """The job form offers /api/config's norms and splits: exactly the values a job request may carry."""
    with idle.client(TOKEN) as c:
        config = c.get("/api/config").json()
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
        assert (
            config["norms"]
            == schemas["JobDirections"]["properties"]["norm"]["enum"]
            == ["filter", "layer", "weight", "none"]
        )
        assert config["splits"] == schemas["JobRequest"]["properties"]["split"]["enum"] == ["train", "test", "both"]
        for field, value in (("split", "validation"), ("directions", {"norm": "unit"})):
            r = c.post("/api/jobs", json=job_request(**{field: value}))
            assert r.status_code == 422 and field in r.text, r.text


def test_config_states_each_limit_a_refusal_names(idle: ThreadServer):
    """A client learns every limit from /api/config before it is refused for one."""
    limits = {
        "max_points": {"x": "-1:1:21", "y": "-1:1:20"},
        "max_samples": {"samples": 1001},
        "max_batch_size": {"batch_size": 513},
    }
    with idle.client(TOKEN) as c:
        stated = c.get("/api/config").json()["limits"]
        for name, change in limits.items():
            r = c.post("/api/jobs", json=job_request(**change))
            assert r.status_code == 422 and f"{name}={stated[name]}" in r.json()["detail"], r.text


def test_jobs_are_listed_a_page_at_a_time(tmp_path: Path, tiny_npz: Path):
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz)) as server, server.client() as c:
        submitted = [c.post("/api/jobs", json=job_request(sample_seed=s)).json()["id"] for s in range(5)]
        everything = c.get("/api/jobs").json()
        assert [j["id"] for j in everything["jobs"]] == submitted[::-1]  # newest first
        assert everything["next_offset"] is None
        pages, offset = [], 0
        while offset is not None:
            page = c.get("/api/jobs", params={"limit": 2, "offset": offset}).json()
            pages.append([j["id"] for j in page["jobs"]])
            offset = page["next_offset"]
        assert pages == [submitted[4:2:-1], submitted[2:0:-1], submitted[:1]]
        assert c.get("/api/jobs", params={"offset": 5}).json() == {"jobs": [], "next_offset": None}
        assert c.get("/api/jobs", params={"offset": 2**63 - 1}).json() == {"jobs": [], "next_offset": None}
        assert c.get("/api/jobs", params={"limit": 1000}).json() == everything
        for params, detail in (
            ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
            ({"limit": 1001}, "query.limit: Input should be less than or equal to 1000"),
            ({"offset": -1}, "query.offset: Input should be greater than or equal to 0"),
            ({"offset": 2**63}, "query.offset: Input should be less than or equal to 9223372036854775807"),  # was a 500
            ({"limit": "all"}, "query.limit: Input should be a valid integer, unable to parse string as an integer"),
        ):
            r = c.get("/api/jobs", params=params)
            assert (r.status_code, r.json()) == (422, {"detail": detail})
        listing = c.get("/openapi.json").json()["paths"]["/api/jobs"]["get"]["parameters"]
        assert {p["name"]: (p["schema"].get("maximum"), p["schema"]["default"]) for p in listing} == {
            "limit": (1000, 200),
            "offset": (2**63 - 1, 0),
        }


def test_a_title_of_any_script_is_kept_as_given(idle: ThreadServer):
    """Titles refuse control and text-direction characters only: right-to-left text, accents and emoji
    joined with zero-width joiners are titles like any other."""
    title = "\u05e9\u05dc\u05d5\u05dd r\u00e9sum\u00e9 \U0001f469\u200d\U0001f52c"
    with idle.client(TOKEN) as c:
        r = c.post("/api/jobs", json=job_request(sample_seed=21, name=title))
        assert r.status_code == 202, r.text
        assert r.json()["request"]["name"] == title
        assert c.get(f"/api/surfaces/{r.json()['surface_id']}").status_code == 404  # no points yet
        c.delete(f"/api/jobs/{r.json()['id']}")


def test_a_blank_title_gives_the_surface_its_default_title(busy: ThreadServer):
    """Spaces around a title are dropped: one of spaces only is no title (the viewer shows the default too)."""
    with busy.client() as c:
        r = c.post("/api/jobs", json=job_request(sample_seed=31, samples=10, x="-1:1:2", y=None, name="   "))
        assert r.status_code == 202 and r.json()["request"]["name"] == "", r.text
        wait_state(c, r.json()["id"], ("done",))
        assert c.get(f"/api/surfaces/{r.json()['surface_id']}").json()["name"] == "tinycnn on tiny (train)"
        r = c.post("/api/jobs", json=job_request(sample_seed=32, samples=10, x="-1:1:2", y=None, name=" a title\t "))
        assert r.json()["request"]["name"] == "a title"
        c.delete(f"/api/jobs/{r.json()['id']}")


def test_a_job_stored_before_titles_were_checked_is_still_listed(tmp_path: Path, tiny_npz: Path):
    """A title accepted by an older version stays readable (the check refuses new ones only)."""
    from server.jobspec import build_spec
    from server.schemas import JobRequest
    from server.uploads import CheckpointStore
    from workers.jobqueue import JobQueue

    settings = make_settings(tmp_path / "data", tiny_npz)
    with ThreadServer(settings) as server, server.client() as c:
        request = JobRequest(**job_request())
        spec, _, _ = build_spec(request, settings, CheckpointStore(settings.checkpoints_dir))
        stored = {**request.model_dump(mode="json"), "name": "old\u202etitle"}  # as an older version kept it
        JobQueue(settings.data_dir).submit("k", stored, spec.model_dump(mode="json"), "old", "surfaces/old.h5", 25, 5)
        r = c.get("/api/jobs")
        assert r.status_code == 200, r.text
        assert [j["request"]["name"] for j in r.json()["jobs"]] == ["old\u202etitle"]
