"""A PCA surface's path in the mesh JSON: per checkpoint label, epoch, coordinates and metrics; no paths."""
from __future__ import annotations

import numpy as np
import pytest

from server.mesh import summarize, to_mesh
from server.schemas import Mesh
from workers import SurfaceSpec
from workers.h5io import Surface, Trajectory


def test_mesh_carries_the_trajectory_without_server_paths():
    x, y = np.linspace(-1, 1, 3), np.linspace(-2, 2, 3)
    spec = SurfaceSpec(model="tinycnn", x="-1:1:3", y="-2:2:3", directions={
        "kind": "pca", "checkpoints": ["/srv/runs/r/epoch_1.pt", "/srv/runs/r/epoch_2.pt"]})
    recipe = {"spec": spec.model_dump(mode="json")}
    trajectory = Trajectory(["epoch_1", "epoch_2"], np.array([1, 2]), np.array([-0.5, 0.0]), np.array([1.25, 0.0]),
                            {"train_loss": np.array([2.5, np.nan])},
                            {"method": "cos", "explained_variance_ratio_": [0.8, 0.15]})
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
