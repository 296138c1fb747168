"""PCA surfaces through the API: the path in the mesh JSON (no server paths), jobs on uploaded checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from server.mesh import summarize, to_mesh
from server.schemas import Mesh
from workers import SurfaceSpec
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

    from workers.jobloop import Worker
    from workers.jobqueue import JobQueue
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
        r = c.post("/api/jobs", json=request)
        assert r.status_code == 202, r.text
        Worker(JobQueue(server.settings.data_dir), "w1").run(once=True)
        job = c.get(f"/api/jobs/{r.json()['id']}").json()
        assert job["state"] == "done", job["error"]
        mesh = Mesh.model_validate(c.get(f"/api/surfaces/{job['surface_id']}").json())
    t = mesh.trajectory
    assert len(t.labels) == 4 and (t.x[-1], t.y[-1]) == (0.0, 0.0)
    assert sum(t.explained_variance_ratio) == pytest.approx(1.0, abs=1e-6)
    assert all(len(name) == 19 for name in mesh.recipe["spec"]["directions"]["checkpoints"])  # <id>.pt, no path
