"""A surface as the viewer's mesh JSON: coordinates, each metric as rows of y (``null`` where not computed
or not finite), the done mask, z ranges and the recipe with paths cut to file names.

The server adds the catalog's id, name and summary (``server/mesh.py``); ``lossatlas export --json``
writes this part alone. Both come from here so that the two never differ.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

import numpy as np

from .h5io import METRICS, Surface
from .hessian import eig_ratio

SIGNIFICANT = 7  # digits kept in mesh values: float32 precision, and a mesh a third smaller gzipped


def json_value(v: float) -> float | None:
    return float(f"{v:.{SIGNIFICANT}g}") if math.isfinite(v) else None


def _metric_order(name: str) -> tuple[int, str]:
    return (METRICS.index(name) if name in METRICS else len(METRICS), name)


def ordered_metrics(surface: Surface) -> dict[str, np.ndarray]:
    """Metrics as train_loss, train_acc, test_loss, test_acc, then others (files store them sorted); with
    eigenvalue maps, the derived ``eig_ratio`` = |min_eig / max_eig| follows them (never stored in files)."""
    out = {m: surface.metrics[m] for m in sorted(surface.metrics, key=_metric_order)}
    if "min_eig" in out and "max_eig" in out:
        out["eig_ratio"] = eig_ratio(out["min_eig"], out["max_eig"])
    return out


def _values(values: np.ndarray, done: np.ndarray) -> list:
    """Rows of JSON numbers, None where not done or not finite."""
    flat = [json_value(v) if d else None for v, d in zip(values.reshape(-1).tolist(), done.reshape(-1).tolist())]
    if values.ndim == 1:
        return flat
    nx = values.shape[1]
    return [flat[i : i + nx] for i in range(0, len(flat), nx)]


def _z_range(values: np.ndarray, done: np.ndarray) -> list[float] | None:
    finite = values[done & np.isfinite(values)]
    return [json_value(finite.min()), json_value(finite.max())] if finite.size else None


def public_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe with paths cut to file names: what was computed, not where its files are kept."""
    spec = dict(recipe.get("spec", {}))
    for key in ("checkpoint", "data_root", "dir_file"):
        if spec.get(key):
            spec[key] = PurePath(spec[key]).name
    if isinstance(spec.get("directions"), dict):
        spec["directions"] = {
            k: (PurePath(v).name if k in ("target", "target_y") and v else v) for k, v in spec["directions"].items()
        }
        if spec["directions"].get("checkpoints"):
            spec["directions"]["checkpoints"] = [PurePath(p).name for p in spec["directions"]["checkpoints"]]
    return {**recipe, "spec": spec} if "spec" in recipe else dict(recipe)


def mesh_data(surface: Surface) -> dict[str, Any]:
    """The mesh's data: everything of the API's mesh but the catalog's id, name and summary."""
    done = surface.done
    metrics = ordered_metrics(surface)
    return {
        "ndim": 1 if surface.ycoordinates is None else 2,
        "x": surface.xcoordinates.tolist(),
        "y": surface.ycoordinates.tolist() if surface.ycoordinates is not None else None,
        "metrics": {m: _values(v, done) for m, v in metrics.items()},
        "done": done.astype(int).tolist(),
        "z_range": {m: _z_range(v, done) for m, v in metrics.items()},
        "points_done": int(done.sum()),
        "points_total": int(done.size),
        "complete": bool(done.all()),
        "recipe": public_recipe(surface.recipe),
        "curvature": surface.attrs.get("curvature"),
        "trajectory": _trajectory(surface),
    }


def _trajectory(surface: Surface) -> dict[str, Any] | None:
    """The optimizer's path on the plane (PCA surfaces): per checkpoint label, epoch, x, y and metrics."""
    t = surface.trajectory
    if t is None:
        return None
    return {
        "labels": list(t.labels),
        "epochs": [int(e) for e in t.epochs],
        "x": [json_value(v) for v in t.x.tolist()],
        "y": [json_value(v) for v in t.y.tolist()],
        "metrics": {m: [json_value(v) for v in values.tolist()] for m, values in t.metrics.items()},
        "method": t.attrs.get("method"),
        "explained_variance_ratio": t.attrs.get("explained_variance_ratio_"),
    }
