"""Surface files as API JSON: the summary of a catalog listing and the mesh a viewer draws."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workers import DATASET_LABELS, Surface, mesh_data, ordered_metrics
from workers import json_value as _value

from .schemas import GalleryInfo, SurfaceSummary


def _axis(coords: np.ndarray) -> dict[str, float | int]:
    return {"min": float(coords[0]), "max": float(coords[-1]), "num": int(coords.size)}


def finite_or_null(value: Any) -> Any:
    """JSON data with every NaN or infinity replaced by null (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_null(v) for v in value]
    return value


def _split_of(metrics: list[str]) -> str:
    splits = {m.split("_")[0] for m in metrics if m.endswith(("_loss", "_acc"))}
    return "both" if {"train", "test"} <= splits else (splits.pop() if len(splits) == 1 else "train")


def summarize(
    surface: Surface,
    surface_id: str,
    source: str,
    name: str | None = None,
    dataset: str | None = None,
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
        id=surface_id,
        name=name,
        source=source,
        model=model,
        dataset=dataset or kind or "unknown",
        dataset_label=label,
        split=spec.get("split") or _split_of(metrics),
        samples=spec.get("samples"),
        directions={k: directions[k] for k in ("kind", "norm", "ignore", "dir_type", "seed")} if directions else None,
        grid={
            "x": _axis(surface.xcoordinates),
            "y": _axis(surface.ycoordinates) if surface.ycoordinates is not None else None,
        },
        ndim=1 if surface.ycoordinates is None else 2,
        metrics=metrics,
        center=center,
        status="complete" if surface.is_complete else "partial",
        points_done=int(surface.done.sum()),
        points_total=int(surface.done.size),
        landscape_stats=finite_or_null(surface.attrs.get("landscape_stats")),
        gallery=gallery,
        directions_sha256=surface.attrs.get("directions_sha256"),
        weights_sha256=surface.recipe.get("weights_sha256"),
        checkpoint_sha256=surface.recipe.get("checkpoint_sha256"),
        negative_variance_points=surface.attrs.get("negative_variance_points"),
    )


def to_mesh(surface: Surface, summary: SurfaceSummary) -> dict[str, Any]:
    """The mesh JSON (a plain dict, validated against :class:`Mesh` in the tests, not per request); values
    of the recipe and curvature that are not finite become null, as metric values do."""
    data = mesh_data(surface)
    data["recipe"], data["curvature"] = finite_or_null(data["recipe"]), finite_or_null(data["curvature"])
    return {"id": summary.id, "name": summary.name, **data, "summary": summary.model_dump(mode="json")}
