"""PCA surfaces through the API: the path in the mesh JSON (no server paths), jobs on uploaded checkpoints."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from server.mesh import summarize, to_mesh
from server.schemas import Mesh
from workers import SurfaceSpec
from workers.files import sha256_file
from workers.h5io import Surface, Trajectory


def test_mesh_carries_the_trajectory_without_server_paths():
    x, y = np.linspace(-1, 1, 3), np.linspace(-2, 2, 3)
    spec = SurfaceSpec(
        model="tinycnn",
        x="-1:1:3",
        y="-2:2:3",
        directions={"kind": "pca", "checkpoints": ["/srv/runs/r/epoch_1.pt", "/srv/runs/r/epoch_2.pt"]},
    )
    recipe = {"spec": spec.model_dump(mode="json")}
    trajectory = Trajectory(
        ["epoch_1", "epoch_2"],
        np.array([1, 2]),
        np.array([-0.5, 0.0]),
        np.array([1.25, 0.0]),
        {"train_loss": np.array([2.5, np.nan])},
        {"method": "cos", "explained_variance_ratio_": [0.8, 0.15]},
    )
    surface = Surface(x, y, {"train_loss": np.ones((3, 3))}, np.ones((3, 3), dtype=bool), recipe, trajectory=trajectory)
    mesh = Mesh.model_validate(to_mesh(surface, summarize(surface, "s", "user")))
    t = mesh.trajectory
    assert t.labels == ["epoch_1", "epoch_2"] and t.epochs == [1, 2] and t.method == "cos"
    assert t.x == [-0.5, 0.0] and t.y == [1.25, 0.0] and t.metrics == {"train_loss": [2.5, None]}
    assert t.explained_variance_ratio == pytest.approx([0.8, 0.15])
    assert mesh.recipe["spec"]["directions"]["checkpoints"] == ["epoch_1.pt", "epoch_2.pt"]
    assert mesh.summary.directions.kind == "pca" and mesh.summary.directions.norm == "none"
    plain = Surface(x, y, {"train_loss": np.ones((3, 3))}, np.ones((3, 3), dtype=bool), {})
    assert Mesh.model_validate(to_mesh(plain, summarize(plain, "p", "user"))).trajectory is None


def test_a_pca_job_on_uploaded_checkpoints_draws_the_path(tmp_path, tiny_npz):
    """Upload a path's checkpoints, ask for its plane, let a worker run it: the mesh carries the path."""
    from serverkit import ThreadServer, job_request, make_settings

    from workers.zoo import create_model

    gen = torch.Generator().manual_seed(0)
    final = create_model("tinycnn").state_dict()
    step = {k: 0.05 * torch.randn(v.shape, generator=gen) for k, v in final.items() if v.dim() > 1}
    side = {k: 0.05 * torch.randn(final[k].shape, generator=gen) for k in step}
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz)) as server, server.client() as c:
        ids = []
        for i, (a, b) in enumerate([(-3, 1), (-2, -1), (-1, 0.5), (0, 0)]):
            state = {k: v + a * step[k] + b * side[k] if k in step else v for k, v in final.items()}
            path = tmp_path / f"epoch_{i}.pt"
            torch.save(state, path)
            up = c.post("/api/checkpoints", files={"file": (path.name, path.read_bytes())}, data={"model": "tinycnn"})
            assert up.status_code == 201, up.text
            ids.append(up.json()["id"])
        request = job_request(directions={"kind": "pca", "checkpoint_ids": ids}, x="-4:1:3", y="-2:2:3", samples=50)
        job = server.run_job(c, request)
        assert job["state"] == "done", job["error"]
        mesh = Mesh.model_validate(c.get(f"/api/surfaces/{job['surface_id']}").json())
    t = mesh.trajectory
    assert len(t.labels) == 4 and (t.x[-1], t.y[-1]) == (0.0, 0.0)
    assert sum(t.explained_variance_ratio) == pytest.approx(1.0, abs=1e-6)
    assert all(len(name) == 19 for name in mesh.recipe["spec"]["directions"]["checkpoints"])  # <id>.pt, no path


def _path_states(model: str = "tinycnn", n: int = 4) -> list[dict]:
    """A path of ``n`` state dicts ending at the zoo's initialisation, its weights spread over two directions."""
    from workers.zoo import create_model

    gen = torch.Generator().manual_seed(1)
    final = create_model(model).state_dict()
    step = {k: 0.05 * torch.randn(v.shape, generator=gen) for k, v in final.items() if v.dim() > 1}
    side = {k: 0.05 * torch.randn(final[k].shape, generator=gen) for k in step}
    coords = [(-3, 1), (-2, -1), (-1, 0.5), (0, 0)][-n:]
    return [{k: v + a * step[k] + b * side[k] if k in step else v for k, v in final.items()} for a, b in coords]


def _run_entry(id: str, model: str = "tinycnn") -> dict:
    return {
        "id": id,
        "title": f"Path {id}",
        "description": "",
        "tier": "cpu",
        "model": model,
        "dataset": "tensors",
        "training": {"epochs": 3, "save_every": 1},
        "surface": {"samples": 50, "directions": {"kind": "pca"}, "grid_num": 3},
    }


@pytest.fixture(scope="module")
def run_gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gallery with a training path on disk (4 checkpoints and the final model), one whose path has only
    2 checkpoints, one without its final model, and a random-directions entry."""
    import json

    root = tmp_path_factory.mktemp("runs")
    gal = root / "gallery"
    for id, n, final in (("tiny-path", 4, True), ("short-path", 2, True), ("no-final", 4, False)):
        states = _path_states(n=n)
        (gal / "runs" / id).mkdir(parents=True)
        for k, state in enumerate(states):
            torch.save(state, gal / "runs" / id / f"epoch_{k}.pt")
        if final:
            (gal / "checkpoints").mkdir(exist_ok=True)
            torch.save(states[-1], gal / "checkpoints" / f"{id}.pt")
    plain = {**_run_entry("plain"), "surface": {"samples": 50, "x": "-1:1:3"}}
    entries = [_run_entry("tiny-path"), _run_entry("short-path"), _run_entry("no-final"), plain]
    (gal / "manifest.json").write_text(json.dumps({"version": 1, "entries": entries}))
    index = [{"id": "tiny-path", "file": "tiny-path.h5", "title": "Path", "grid": "-4:1:3 x -2:2:3", "source": "s"}]
    (gal / "index.json").write_text(json.dumps({"entries": index}))
    return root


def test_a_pca_job_on_a_gallery_run_equals_the_engine_on_its_files(run_gallery, tiny_npz, tmp_path):
    from serverkit import ThreadServer, job_request, make_settings

    from server.schemas import CheckpointList
    from workers import read_surface
    from workers.files import sha256_file
    from workers.trajectory import compute_trajectory

    gal = run_gallery / "gallery"
    files = [gal / "runs" / "tiny-path" / f"epoch_{k}.pt" for k in range(4)]
    with ThreadServer(make_settings(run_gallery / "data", tiny_npz)) as server, server.client() as c:
        listed = CheckpointList.model_validate(c.get("/api/checkpoints").json())
        assert [r.model_dump() for r in listed.runs] == [
            {
                "id": "tiny-path",
                "model": "tinycnn",
                "title": "Path tiny-path",
                "source": "s",
                "labels": ["epoch_0", "epoch_1", "epoch_2", "epoch_3"],
                "final_sha256": sha256_file(gal / "checkpoints" / "tiny-path.pt"),
                "grid": "-4:1:3 x -2:2:3",
            }
        ]  # short-path: fewer than 3 checkpoints; no-final: its final model is missing; plain: not a path
        assert [(g.id, g.title) for g in listed.gallery] == [
            ("tiny-path", "Path tiny-path: final weights"),  # told apart from the path (the run) in a list
            ("short-path", "Path short-path: final weights"),
        ]
        request = job_request(directions={"kind": "pca", "run": "tiny-path"}, x="-4:1:3", y="-2:2:3", samples=50)
        r = c.post("/api/jobs", json=request)
        assert r.status_code == 202, r.text
        assert c.post("/api/jobs", json=request).json()["id"] == r.json()["id"]  # the same request, the same job
        gflop = c.get("/api/config").json()["model_gflop"]["tinycnn"]  # checked by test_job_cost.py
        assert r.json()["cost_tflop"] == pytest.approx((9 + 4) * 50 * gflop / 1e3, rel=1e-3)  # points + checkpoints
        server.work()
        job = c.get(f"/api/jobs/{r.json()['id']}").json()
        assert job["state"] == "done", job["error"]
        got_path = tmp_path / "got.h5"
        got_path.write_bytes(c.get(f"/api/surfaces/{job['surface_id']}/file").content)
        mesh = Mesh.model_validate(c.get(f"/api/surfaces/{job['surface_id']}").json())
    assert mesh.recipe["spec"]["directions"]["checkpoints"] == [f.name for f in files]  # names, no server paths
    got = read_surface(got_path)
    fields = {
        "model": "tinycnn",
        "checkpoint": str(gal / "checkpoints" / "tiny-path.pt"),
        "dataset": "tensors",
        "data_root": str(tiny_npz),
        "samples": 50,
        "directions": {"kind": "pca", "checkpoints": [str(f) for f in files]},
        "x": "-4:1:3",
        "y": "-2:2:3",
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the test worker
    try:
        expected = compute_trajectory(fields, tmp_path / "expected.h5")
    finally:
        torch.set_num_threads(threads)
    for name, values in expected.metrics.items():
        np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)
    t, e = got.trajectory, expected.trajectory
    assert t.labels == e.labels and np.array_equal(t.x, e.x) and np.array_equal(t.y, e.y)
    assert t.attrs["checkpoints_sha256"] == [sha256_file(f) for f in files]


@pytest.mark.parametrize(
    "change, status, detail",
    [
        (
            {"directions": {"kind": "pca", "run": "short-path"}},
            404,
            "no gallery run 'short-path'; choose one of the runs in GET /api/checkpoints: tiny-path",
        ),
        (
            {"directions": {"kind": "pca", "run": "tiny-path"}, "model": "tinycnn_mnist"},
            422,
            "gallery run tiny-path trained 'tinycnn', not 'tinycnn_mnist'",
        ),
        (
            {"directions": {"kind": "random", "run": "tiny-path"}},
            422,
            "directions.run names a training path: it needs directions of kind pca",
        ),
        (
            {"directions": {"kind": "pca", "run": "tiny-path"}, "gallery_checkpoint": "tiny-path"},
            422,
            "a gallery run's plane is centred on its own final model: leave out checkpoint_id and gallery_checkpoint",
        ),
        (
            {"directions": {"kind": "pca", "run": "tiny-path", "checkpoint_ids": ["0" * 16] * 3}},
            422,
            "give the path as checkpoint_ids or as a gallery run, not both",
        ),
        (
            {"directions": {"kind": "random", "checkpoint_ids": ["0" * 16] * 3}},
            422,
            "checkpoint_ids name a training path: they need directions of kind pca",
        ),
        ({"directions": {"kind": "pca", "run": "../runs"}}, 422, "String should match pattern"),
        (
            {"directions": {"kind": "pca", "run": "tiny-path", "seed": 5, "norm": "layer"}},
            422,
            "a pca plane's axes are the path's principal components, with no norm, seed or same_dir: "
            "leave out directions.norm, directions.seed",
        ),
        (
            {"directions": {"projection": "lstsq"}},
            422,
            "directions.projection applies to pca directions (a training path): leave it out of random directions",
        ),
    ],
)
def test_bad_gallery_run_requests_are_refused_and_queue_nothing(
    run_gallery, tiny_npz, tmp_path, change, status, detail
):
    from serverkit import ThreadServer, job_request, make_settings

    settings = make_settings(
        tmp_path / "data", tiny_npz, gallery_dir=run_gallery / "gallery", models=["tinycnn", "tinycnn_mnist"]
    )
    with ThreadServer(settings) as server, server.client() as c:
        r = c.post("/api/jobs", json=job_request(samples=50, **change))
        assert r.status_code == status, r.text
        assert detail in str(r.json()["detail"])
        assert c.get("/api/jobs").json()["jobs"] == []


def test_a_job_echoes_only_the_fields_of_its_kind_of_directions(run_gallery, tiny_npz, tmp_path):
    """A pca job's request shows no norm or seed, a random job's no path, in every place a job is shown;
    the stored request keeps every field, so a job stored before (the same request, in full) is still the
    one an identical request finds."""
    import hashlib
    import json

    from serverkit import ThreadServer, job_request, make_settings

    from workers.jobqueue import JobQueue

    settings = make_settings(tmp_path / "data", tiny_npz, gallery_dir=run_gallery / "gallery")
    pca = job_request(directions={"kind": "pca", "run": "tiny-path"}, x="-4:1:3", y="-2:2:3", samples=50)
    full = {  # the request as the server stores it: every field, defaults included
        **{k: None for k in ("checkpoint_id", "gallery_checkpoint", "hessian", "name")},
        **{"split": "train", "sample_seed": 0, "batch_size": 128, "loss": "ce"},
        **pca,
        "x": {"min": -4.0, "max": 1.0, "num": 3},
        "y": {"min": -2.0, "max": 2.0, "num": 3},
        "directions": {
            **{"kind": "pca", "seed": 0, "norm": "filter", "ignore": "biasbn", "dir_type": "weights"},
            **{"same_dir": False, "checkpoint_ids": None, "run": "tiny-path", "projection": "cos"},
        },
    }
    keyed = {k: v for k, v in full.items() if k not in ("name", "hessian", "gallery_checkpoint")}
    run = [run_gallery / "gallery" / "checkpoints" / "tiny-path.pt"]
    run += [run_gallery / "gallery" / "runs" / "tiny-path" / f"epoch_{k}.pt" for k in range(4)]
    keyed["checkpoint_sha256"] = hashlib.sha256(" ".join(sha256_file(f) for f in run).encode()).hexdigest()
    key = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()  # the key as jobs store it
    old, _ = JobQueue(settings.data_dir).submit(
        key, full, {}, f"tinycnn-tiny-{key[:10]}", "surfaces/old.h5", 9, 20, 0.1
    )
    with ThreadServer(settings) as server, server.client() as c:
        r = c.post("/api/jobs", json=pca)
        assert (r.status_code, r.json()["id"]) == (200, old.id)  # the stored job, found by the same key
        shown = {"kind": "pca", "ignore": "biasbn", "dir_type": "weights", "run": "tiny-path", "projection": "cos"}
        random = c.post("/api/jobs", json=job_request(samples=50, directions={"seed": 3, "norm": "layer"}))
        assert random.status_code == 202, random.text
        plain = {"kind": "random", "seed": 3, "norm": "layer", "ignore": "biasbn", "dir_type": "weights"}
        expect = {old.id: shown, random.json()["id"]: {**plain, "same_dir": False}}
        listed = {j["id"]: j["request"]["directions"] for j in c.get("/api/jobs").json()["jobs"]}
        assert listed == expect
        assert {j: c.get(f"/api/jobs/{j}").json()["request"]["directions"] for j in expect} == expect
        assert r.json()["request"] == c.get(f"/api/jobs/{old.id}").json()["request"] == {**full, "directions": shown}
        assert c.delete(f"/api/jobs/{old.id}").json()["request"]["directions"] == shown
        with httpx.stream("GET", f"{server.url}/api/jobs/{old.id}/events", timeout=30) as events:
            states = [json.loads(line[6:]) for line in events.iter_lines() if line.startswith('data: {"id"')]
        assert [s["request"]["directions"] for s in states] == [shown]
    assert JobQueue(settings.data_dir).get(old.id).request == full  # stored as it was
