"""Compute a loss surface from a :class:`SurfaceSpec` into an HDF5 file, resumably.

The output file is rewritten (atomically) after every finished point, in coarse-to-fine order, so at
any moment it is a valid, lower-resolution surface. Run the same spec against the same file again and
it continues where it stopped, computing no finished point again; a file made with other settings is
refused rather than mixed.
"""
from __future__ import annotations

import contextlib
import copy
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from . import __version__
from .checkpoints import load_model, load_state_dict, sha256_file
from .data import DATASET_LABELS, load_split
from .directions import Direction, named_weights, random_directions, target_direction
from .executors import Executor, LocalExecutor, make_executor
from .grid import coarse_to_fine
from .h5io import (
    Surface, directions_digest, read_directions, read_surface, write_directions, write_surface,
)
from .files import remove_stale_tmp
from .pointwork import LossWork
from .spec import SurfaceSpec
from .stats import landscape_stats

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]

# Where a file was found, not what it holds: left out when comparing recipes (the sha256s cover content).
_LOCATION_KEYS = ("checkpoint", "data_root", "dir_file", "download")


@dataclass
class Progress:
    """What a progress callback receives after each finished point."""

    done: int  # points finished, in the file
    total: int
    computed: int  # points computed by this run
    elapsed: float  # seconds in this run
    new: list[tuple[int, int, dict[str, float]]] = field(default_factory=list)  # (ix, iy, metrics)

    @property
    def rate(self) -> float:
        """Points per second in this run."""
        return self.computed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


def default_dir_file(out: Path) -> Path:
    """``surf.h5`` -> ``surf.dirs.h5``."""
    return out.with_name(out.stem + ".dirs.h5")


def comparable(recipe: dict[str, Any]) -> dict[str, Any]:
    """The part of a recipe that must match for a file to be resumed."""
    spec = {k: v for k, v in recipe.get("spec", {}).items() if k not in _LOCATION_KEYS}
    if "directions" in spec:
        spec["directions"] = {k: v for k, v in spec["directions"].items() if k not in ("target", "target_y")}
    rest = {k: v for k, v in recipe.items() if k not in ("spec", "dir_file")}
    return {"spec": spec, **rest}


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} in the file, {b!r} now")
    return out


def _make_directions(spec: SurfaceSpec, model: nn.Module) -> list[Direction]:
    d = spec.directions
    count = spec.ndim
    if d.kind == "random":
        return random_directions(model, d.seed, count, d.norm, d.ignore, d.dir_type, d.same_dir)
    out = []
    for path in (d.target, d.target_y)[:count]:
        if path is None:  # 2-D with one target: a random filter-normalized y direction
            out.append(random_directions(model, d.seed, 1, d.norm, d.ignore, d.dir_type)[0])
            continue
        other = copy.deepcopy(model)
        other.load_state_dict(load_state_dict(path), strict=True)
        out.append(target_direction(model, other, d.dir_type))
    return out


def _load_splits(spec: SurfaceSpec) -> tuple[Splits, dict[str, np.ndarray]]:
    splits, indices = {}, {}
    for name in spec.splits:
        x, y, idx = load_split(
            spec.dataset, name, spec.data_root, spec.samples, spec.sample_seed, spec.mean, spec.std, spec.download
        )
        splits[name], indices[name] = (x, y), idx
    return splits, indices


def as_tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, labels)`` tensors, or any map-style dataset of ``(input, label)`` pairs, stacked once."""
    if isinstance(split, (tuple, list)) and len(split) == 2 and all(isinstance(t, torch.Tensor) for t in split):
        return split[0], split[1]
    if hasattr(split, "__getitem__") and hasattr(split, "__len__"):
        pairs = [split[i] for i in range(len(split))]
        if not pairs:
            raise ValueError("the dataset is empty")
        return torch.stack([torch.as_tensor(x) for x, _ in pairs]), torch.as_tensor([int(y) for _, y in pairs])
    raise ValueError(f"data splits must be (inputs, labels) tensors or a dataset of pairs, not {type(split).__name__}")


def build_recipe(spec: SurfaceSpec, model: nn.Module | None = None, user_data: bool = False) -> dict[str, Any]:
    """The recipe stored in the file: the spec plus fingerprints of every input file."""
    recipe: dict[str, Any] = {"spec": spec.model_dump(mode="json")}
    if spec.checkpoint:
        recipe["checkpoint_sha256"] = sha256_file(spec.checkpoint)
    for key in ("target", "target_y"):
        path = getattr(spec.directions, key)
        if path:
            recipe[f"{key}_sha256"] = sha256_file(path)
    if spec.dir_file:
        recipe["dir_file_sha256"] = sha256_file(spec.dir_file)
    recipe["dataset_label"] = "in-memory tensors" if user_data else DATASET_LABELS[spec.dataset]
    if model is not None:
        recipe["model_params"] = int(sum(p.numel() for p in model.parameters()))
    return recipe


def compute_surface(
    spec: SurfaceSpec,
    out: str | Path | None = None,
    *,
    model: nn.Module | None = None,
    data: Splits | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    ray: str | None = None,
    executor: Executor | None = None,
) -> Surface:
    """Compute (or finish) the surface described by ``spec``.

    Parameters
    ----------
    spec : SurfaceSpec
        Model, data, directions and grid.
    out : path, optional
        HDF5 file to write as points finish; an existing file with the same recipe is resumed. Its
        directions go to ``spec.dir_file`` or, when that is unset, ``<out stem>.dirs.h5``. Without
        ``out`` the surface is only returned.
    model : nn.Module, optional
        Use this model instead of building ``spec.model`` (it is copied, never modified).
    data : dict, optional
        ``{"train": (inputs, labels), "test": ...}`` tensors to use instead of loading ``spec.dataset``.
    device : str
        ``"cpu"`` or ``"cuda"``; model and data are moved there once (with Ray: on every actor).
    progress : callable, optional
        Called with a :class:`Progress` after every finished point.
    should_stop : callable, optional
        Checked between points; when it returns True the partial surface is returned (and kept in ``out``).
    ray : str, optional
        Evaluate the points on a Ray cluster: ``"auto"`` (the cluster on this machine, or a new local one)
        or a cluster address. This process still writes ``out``; resuming works across executors.
    executor : Executor, optional
        Evaluate the points with this executor (``workers.executors``) instead of the one ``ray`` names.

    Returns
    -------
    Surface
        Coordinates, metrics (NaN where not computed), done mask, recipe.
    """
    t_start = time.perf_counter()
    device = torch.device(device)
    if ray is not None and executor is not None:
        raise ValueError("give ray or executor, not both")
    executor = executor or make_executor(device, ray)
    local = isinstance(executor, LocalExecutor)  # else the model and data go to the device on the workers
    if local and device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch sees no CUDA GPU; use --device cpu")
    out = Path(out) if out is not None else None
    if out is not None:
        remove_stale_tmp(out)

    base = load_model(spec.model, spec.checkpoint) if model is None else model
    model = copy.deepcopy(base).to(device if local else "cpu").eval()
    recipe = build_recipe(spec, model, user_data=data is not None)

    previous = None
    if out is not None and out.exists():
        previous = read_surface(out)
        if previous.reference or "spec" not in previous.recipe:
            raise ValueError(f"{out} exists and was not written by lossatlas; choose another --out")
        diffs = _diff(comparable(previous.recipe), comparable(recipe))
        if diffs:
            raise ValueError(
                f"{out} was computed with other settings ({'; '.join(diffs[:3])}); "
                "use another --out or delete the file"
            )

    # Directions: an explicit file, the file of a run being resumed, or new ones (the seed makes the same).
    names = [n for n, _ in named_weights(model, spec.directions.dir_type)]
    shapes = [tuple(t.shape) for _, t in named_weights(model, spec.directions.dir_type)]
    dir_path = Path(spec.dir_file) if spec.dir_file else (default_dir_file(out) if out is not None else None)
    if spec.dir_file or (previous is not None and dir_path is not None and dir_path.exists()):
        directions = read_directions(dir_path, names, shapes)
        if len(directions) < spec.ndim:
            raise ValueError(f"direction file {dir_path} holds {len(directions)} direction(s), a {spec.ndim}-D surface needs {spec.ndim}")
        directions = directions[: spec.ndim]
    else:
        directions = _make_directions(spec, model)
        if dir_path is not None:
            write_directions(dir_path, names, directions, {"recipe_kind": spec.directions.kind})
    digest = directions_digest(directions)
    if previous is not None and previous.attrs.get("directions_sha256") not in (None, digest):
        raise ValueError(f"the directions of {dir_path} differ from those {out} was started with; delete both to restart")

    if data is None:
        splits, indices = _load_splits(spec)
    else:
        missing = [s for s in spec.splits if s not in data]
        if missing:
            raise ValueError(f"data lacks the split(s) {', '.join(missing)} that split={spec.split!r} needs")
        splits, indices = {s: as_tensors(data[s]) for s in spec.splits}, {}

    xs = spec.x.axis().coordinates()
    ys = spec.y.axis().coordinates() if spec.y is not None else None
    nx, ny = len(xs), (len(ys) if ys is not None else 1)
    shape = (nx,) if ys is None else (ny, nx)
    if previous is not None:
        surface = previous
        surface.recipe = recipe  # same content; refreshed paths
    else:
        surface = Surface(
            xs, ys, {m: np.full(shape, np.nan) for m in spec.metrics}, np.zeros(shape, dtype=bool), recipe,
            attrs={
                "lossatlas_version": __version__,
                "torch_version": torch.__version__,
                "python_version": platform.python_version(),
                "elapsed_s": 0.0,
            },
        )
        for name, idx in indices.items():
            if spec.samples is not None:
                surface.arrays[f"samples_{name}"] = idx
    surface.attrs["device"] = str(device)
    surface.attrs["directions_sha256"] = digest
    if dir_path is not None:
        surface.attrs["dir_file_sha256"] = sha256_file(dir_path)
        surface.dir_file = dir_path.name

    surface.attrs["executor"] = executor.description
    work = LossWork(model, directions, spec.directions.dir_type, splits, spec.loss, spec.batch_size, spec.fast)
    elapsed_before = float(surface.attrs.get("elapsed_s", 0.0))
    done_flat = surface.done.reshape(-1)
    total = done_flat.size
    pending = []
    for flat_index in (int(i) for level in coarse_to_fine(nx, ny) for i in level):
        if not done_flat[flat_index]:
            iy, ix = divmod(flat_index, nx)
            pending.append((flat_index, (xs[ix],) if ys is None else (xs[ix], ys[iy])))
    computed = 0
    t_run = time.perf_counter()
    with contextlib.closing(executor.map(work, pending, should_stop)) as results:
        for chunk, chunk_values in results:
            new = []
            for (flat_index, _), values in zip(chunk, chunk_values):
                iy, ix = divmod(flat_index, nx)
                index = (ix,) if ys is None else (iy, ix)
                for name, value in values.items():
                    surface.metrics[name][index] = value
                surface.done[index] = True
                new.append((ix, iy, values))
            computed += len(chunk)
            now = time.perf_counter()
            surface.attrs["elapsed_s"] = elapsed_before + (now - t_start)
            if surface.is_complete:
                surface.attrs.update(landscape_stats(surface))
            if out is not None:
                write_surface(out, surface)
            if progress is not None:
                progress(Progress(int(surface.done.sum()), total, computed, now - t_run, new))
    if surface.is_complete and "landscape_stats" not in surface.attrs:
        surface.attrs.update(landscape_stats(surface))
        if out is not None:
            write_surface(out, surface)
    return surface
