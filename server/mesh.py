"""Surface files as API JSON: the summary of a catalog listing and the mesh a viewer draws."""
from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

import numpy as np

from workers import Surface
from workers.data import DATASET_LABELS
from workers.h5io import METRICS
from workers.hessian import eig_ratio

from .schemas import GalleryInfo, SurfaceSummary

SIGNIFICANT = 7  # digits kept in mesh values: float32 precision, and a mesh a third smaller gzipped


def _axis(coords: np.ndarray) -> dict[str, float | int]:
    return {"min": float(coords[0]), "max": float(coords[-1]), "num": int(coords.size)}


def _value(v: float) -> float | None:
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


def _split_of(metrics: list[str]) -> str:
    splits = {m.split("_")[0] for m in metrics if m.endswith(("_loss", "_acc"))}
    return "both" if {"train", "test"} <= splits else (splits.pop() if len(splits) == 1 else "train")


def summarize(
    surface: Surface, surface_id: str, source: str, name: str | None = None, dataset: str | None = None,
    gallery: GalleryInfo | None = None,
) -> SurfaceSummary:
    """Catalog entry of a surface. ``dataset``: the server's name for the data (the spec's kind when None)."""
    spec = surface.recipe.get("spec", {})
    model = spec.get("model") or "unknown"
    kind = spec.get("dataset")
    label = surface.recipe.get("dataset_label") or DATASET_LABELS.get(kind or "", "unknown")
    metrics = list(ordered_metrics(surface))
    directions = spec.get("directions")
    center_index = (int(np.abs(surface.xcoordinates).argmin()),)
    if surface.ycoordinates is not None:
        center_index = (int(np.abs(surface.ycoordinates).argmin()),) + center_index
    center = {
        m: (_value(values[center_index]) if surface.done[center_index] else None)
        for m, values in ordered_metrics(surface).items()
    }
    if name is None:
        name = gallery.title if gallery else f"{model} on {label}"
    return SurfaceSummary(
        id=surface_id, name=name, source=source, model=model, dataset=dataset or kind or "unknown",
        dataset_label=label, split=spec.get("split") or _split_of(metrics), samples=spec.get("samples"),
        directions={k: directions[k] for k in ("kind", "norm", "ignore", "dir_type", "seed")} if directions else None,
        grid={"x": _axis(surface.xcoordinates),
              "y": _axis(surface.ycoordinates) if surface.ycoordinates is not None else None},
        ndim=1 if surface.ycoordinates is None else 2, metrics=metrics, center=center,
        status="complete" if surface.is_complete else "partial", points_done=int(surface.done.sum()),
        points_total=int(surface.done.size), landscape_stats=surface.attrs.get("landscape_stats"), gallery=gallery,
    )


def _values(values: np.ndarray, done: np.ndarray) -> list:
    """Rows of JSON numbers, None where not done or not finite."""
    flat = [_value(v) if d else None for v, d in zip(values.reshape(-1).tolist(), done.reshape(-1).tolist())]
    if values.ndim == 1:
        return flat
    nx = values.shape[1]
    return [flat[i : i + nx] for i in range(0, len(flat), nx)]


def _z_range(values: np.ndarray, done: np.ndarray) -> list[float] | None:
    finite = values[done & np.isfinite(values)]
    return [_value(finite.min()), _value(finite.max())] if finite.size else None


def public_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe with server paths cut to file names: the API shows what was computed, not where the
    server keeps its files."""
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


def to_mesh(surface: Surface, summary: SurfaceSummary) -> dict[str, Any]:
    """The mesh JSON (a plain dict, validated against :class:`Mesh` in the tests, not per request)."""
    done = surface.done
    return {
        "id": summary.id,
        "name": summary.name,
        "ndim": summary.ndim,
        "x": surface.xcoordinates.tolist(),
        "y": surface.ycoordinates.tolist() if surface.ycoordinates is not None else None,
        "metrics": {m: _values(v, done) for m, v in ordered_metrics(surface).items()},
        "done": done.astype(int).tolist(),
        "z_range": {m: _z_range(v, done) for m, v in ordered_metrics(surface).items()},
        "points_done": summary.points_done,
        "points_total": summary.points_total,
        "complete": summary.status == "complete",
        "recipe": public_recipe(surface.recipe),
        "curvature": surface.attrs.get("curvature"),
        "summary": summary.model_dump(mode="json"),
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
        "x": [_value(v) for v in t.x.tolist()],
        "y": [_value(v) for v in t.y.tolist()],
        "metrics": {m: [_value(v) for v in values.tolist()] for m, values in t.metrics.items()},
        "method": t.attrs.get("method"),
        "explained_variance_ratio": t.attrs.get("explained_variance_ratio_"),
    }

