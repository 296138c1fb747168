"""The optimizer's path on a loss surface: the surface around the final model in the plane of the path's
first two principal components, and every checkpoint projected onto it with its own loss and accuracy.

Steps (Li et al. 2018, section 7; the reference's ``plot_trajectory.py``): the checkpoints ``w_i`` and
the final model ``w_final`` (the last checkpoint unless given) give the rows ``flatten(w_i - w_final)``;
their first two principal components are the directions (:mod:`workers.pca`), written with their
explained variance to the direction file; each checkpoint is projected onto the plane; the grid, unless
given, covers the whole projected path with a margin; the surface is computed by
:func:`workers.surface.compute_surface` with that direction file; then each checkpoint is evaluated on
the surface's samples and the path is stored in the surface file's ``trajectory`` group.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import json
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
import torch.nn as nn

from .batches import as_tensors
from .checkpoints import load_fitting, load_model, load_state_dict
from .checks import check_out_path
from .directions import named_weights
from .evaluate import Evaluator
from .files import sha256_file, writing
from .h5io import Surface, Trajectory, default_dir_file, read_directions, write_surface
from .pca import flatten_difference, flatten_direction, pca_directions, project, read_pca_stats, write_pca_directions
from .progress import counted
from .spec import AxisSpec, SurfaceSpec
from .surface import Progress, Splits, _load_splits, compute_surface

StateDict = Mapping[str, torch.Tensor]
_GLOB = re.compile(r"[*?\[]")


@dataclass
class PathPoint:
    """One checkpoint of a path: a file, or a state dict in memory."""

    label: str
    epoch: int  # -1 when unknown
    sha256: str
    path: Path | None = None
    state: StateDict | None = None

    def load(self) -> StateDict:
        return self.state if self.state is not None else load_state_dict(self.path)

    @property
    def source(self) -> str:
        """The file, as given (the label names a state dict in memory): what a message points to."""
        return str(self.path) if self.path is not None else self.label


def _natural_key(path: Path) -> list:
    """``epoch_10`` after ``epoch_9``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _epoch_of(path: Path) -> int:
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else -1


def expand_checkpoints(sources: str | Path | Sequence[str | Path]) -> list[Path]:
    """Checkpoint files from paths, glob patterns (``runs/r20/epoch_*.pt``) and run directories
    (``lossatlas train`` output: its ``epoch_*.pt``, else its ``step_*.pt``), each in natural order
    (epoch 2 before 10). Files listed one by one keep their order; numbered files of one pattern listed
    out of it are refused."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(path.glob("epoch_*.pt"), key=_natural_key) or sorted(
                path.glob("step_*.pt"), key=_natural_key
            )
            if not found:
                raise ValueError(
                    f"{path} holds no epoch_*.pt or step_*.pt checkpoints; train with --save-every 1 "
                    "(or --save-every-steps N) to keep them"
                )
            files += found
        elif _GLOB.search(str(source)):
            found = sorted((Path(p) for p in glob.glob(str(source))), key=_natural_key)
            if not found:
                raise ValueError(f"no checkpoint file matches {str(source)!r}")
            runs = sorted({str(f.parent) for f in found})
            if len(runs) > 1:  # sorted by name, their checkpoints would interleave
                raise ValueError(
                    f"{str(source)!r} matches checkpoints in {len(runs)} directories ({', '.join(runs[:3])}"
                    f"{' ...' if len(runs) > 3 else ''}): give one run's, or each run's glob in path order"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"checkpoint {str(source)!r} does not exist")
    _check_order(files)
    return files


def _check_order(files: Sequence[Path]) -> None:
    """Refuse numbered files of one run given out of order, as a shell expands an unquoted glob
    (``epoch_10.pt`` before ``epoch_2.pt``): the path would be drawn scrambled around the wrong final model."""
    for a, b in zip(files, files[1:]):
        pattern = re.sub(r"\d+", "*", a.name)
        if a.parent == b.parent and pattern == re.sub(r"\d+", "*", b.name) and _natural_key(b) < _natural_key(a):
            raise ValueError(
                f"checkpoints out of order: {a} comes before {b} (a shell expands an unquoted glob in text "
                f"order): quote the glob, '{a.parent / pattern}', or list the files in training order"
            )


def state_digest(state: StateDict) -> str:
    """sha256 of a state dict's names and tensor bytes (in-memory checkpoints have no file to hash)."""
    h = hashlib.sha256()
    for name, tensor in state.items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def path_points(
    files: Sequence[Path] = (), states: Sequence[StateDict] = (), labels: Sequence[str] | None = None
) -> list[PathPoint]:
    """The points of a path, from files or from in-memory state dicts (labelled 0, 1, ... unless given)."""
    if states:
        labels = list(labels) if labels is not None else [str(i) for i in range(len(states))]
        if len(labels) != len(states):
            raise ValueError(f"{len(labels)} labels for {len(states)} state dicts")
        return [PathPoint(label, i, state_digest(s), state=s) for i, (label, s) in enumerate(zip(labels, states))]
    return [PathPoint(f.stem, _epoch_of(f), sha256_file(f), path=f) for f in files]


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def path_axes(x: np.ndarray, y: np.ndarray, num: int = 21, margin: float = 0.2) -> tuple[AxisSpec, AxisSpec]:
    """Axes covering the projected path and the final model (the origin), widened by ``margin`` times
    each axis's span on both sides."""
    if margin < 0:
        raise ValueError(f"margin must be at least 0, got {margin}")
    axes = []
    for coords in (x, y):
        lo, hi = min(float(np.min(coords)), 0.0), max(float(np.max(coords)), 0.0)
        span = hi - lo if hi > lo else 1.0
        axes.append(AxisSpec(min=lo - margin * span, max=hi + margin * span, num=num))
    return axes[0], axes[1]


def _directions_from_file(path: Path, names: list[str], shapes: list[tuple[int, ...]], pca_recipe: dict | None):
    """Directions and PCA statistics of an existing file; ``pca_recipe``: refuse a file of another path."""
    if pca_recipe is not None:
        with h5py.File(path, "r") as f:
            stored = json.loads(f.attrs["pca"]) if "pca" in f.attrs else None
        if stored != pca_recipe:
            raise ValueError(
                f"{path} holds directions of another path or setting; recompute with overwrite=True "
                "(lossatlas compute --overwrite) or choose another output file"
            )
    directions = read_directions(path, names, shapes)
    if len(directions) < 2:
        raise ValueError(f"direction file {path} holds one direction; a trajectory plane needs two")
    return directions[:2], read_pca_stats(path)


def compute_trajectory(
    spec: SurfaceSpec | Mapping[str, Any],
    out: str | Path | None = None,
    *,
    states: Sequence[StateDict] | None = None,
    labels: Sequence[str] | None = None,
    model: nn.Module | None = None,
    data: Splits | None = None,
    device: str | torch.device = "cpu",
    num: int = 21,
    margin: float = 0.2,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    overwrite: bool = False,
    ray: str | None = None,
    write: Callable[[Path, Surface], None] = write_surface,
    log: Callable[[str], None] | None = None,
) -> Surface:
    """The surface in the PCA plane of a training path, with the path itself (``surface.trajectory``).

    Parameters
    ----------
    spec : SurfaceSpec or dict
        The surface's fields. ``directions`` (kind ``pca``) names the ``checkpoints`` (files, globs or
        run directories, in path order) and the ``projection`` (``cos`` or ``lstsq``); ``checkpoint`` is
        the final model (default: the last checkpoint). A dict may leave out ``x`` and ``y``: the grid
        then covers the path with ``num`` points per axis and ``margin``. ``dir_file``: use the
        directions of this file (e.g. the reference's PCA directions) instead of computing them.
    out : path, optional
        Surface file (resumable); the PCA directions go to ``<out stem>.dirs.h5``.
    states : list of state dicts, optional
        The path's checkpoints in memory instead of files (then ``labels`` name them).
    model, data, device, progress, should_stop, overwrite, write, ray
        As for :func:`workers.surface.compute_surface`; ``model`` is the architecture (its weights are
        replaced by the final model's); ``overwrite`` recomputes the PCA directions too.
    log : callable, optional
        Told, in one line, of checkpoints dropped from the path because they hold the same model (weights
        and buffers) as an earlier one (``final.pt`` after the last epoch); default: a warning.

    Returns
    -------
    Surface
        With ``trajectory``: each checkpoint's label, epoch, coordinates and own metrics, once the
        surface is complete (a run stopped early adds it when resumed to the end).
    """
    fields = spec.model_dump(mode="json") if isinstance(spec, SurfaceSpec) else dict(spec)
    directions = {"kind": "pca", **dict(fields.get("directions") or {})}
    if directions["kind"] != "pca":
        raise ValueError(f"a trajectory needs directions of kind 'pca', not {directions['kind']!r}")
    method = directions.get("projection", "cos")
    dir_type, ignore = directions.get("dir_type", "weights"), directions.get("ignore", "biasbn")
    if states is not None:
        if directions.get("checkpoints"):
            raise ValueError("give the path's checkpoints as files or as state dicts, not both")
        points = path_points(states=states, labels=labels)
    else:
        if not directions.get("checkpoints"):
            raise ValueError("a trajectory needs the path's checkpoints (files, a glob or a run directory)")
        files = expand_checkpoints(directions["checkpoints"])
        directions["checkpoints"] = [str(f) for f in files]
        points = path_points(files)
    if len(points) < 3:
        raise ValueError(
            f"a PCA plane needs at least 3 checkpoints, got {len(points)}: give the whole path (a quoted glob or a "
            "lossatlas train directory; train --save-every 1 keeps a checkpoint per epoch)"
        )
    fields["directions"] = directions
    if (fields.get("x") is None) != (fields.get("y") is None):
        raise ValueError("give both x and y for a trajectory's grid, or neither (it then covers the path)")
    if fields.get("checkpoint") is None and points[-1].path is not None:
        fields["checkpoint"] = str(points[-1].path)
    SurfaceSpec.model_validate({**fields, "x": fields.get("x") or "0:1:2"})  # bad fields fail before any work
    if fields.get("x") is None:
        path_axes(np.zeros(1), np.zeros(1), num, margin)  # and so do a bad num or margin

    out = check_out_path(out) if out is not None else None
    # one run at a time writes out and its directions (a job's writer is fenced by its lease instead)
    with writing(out if write is write_surface else None):
        # the architecture; its weights are replaced by the final model's
        final = (copy.deepcopy(model) if model is not None else load_model(fields["model"], None)).eval()
        if fields.get("checkpoint"):
            load_fitting(final, load_state_dict(fields["checkpoint"]), str(fields["checkpoint"]), fields["model"])
            final_sha = sha256_file(fields["checkpoint"])
        else:
            load_fitting(final, dict(points[-1].load()), points[-1].source, fields["model"])
            final_sha = points[-1].sha256
        named = named_weights(final, dir_type)
        names, shapes = [n for n, _ in named], [tuple(t.shape) for _, t in named]
        final_tensors = [t.detach().clone() for _, t in named]

        # Rows as the PCA sees them; for given directions, whole differences (the reference projects those).
        row_ignore = "none" if fields.get("dir_file") else ignore
        scratch = copy.deepcopy(final)
        matrix = torch.empty(len(points), sum(t.numel() for t in final_tensors), dtype=torch.float64)  # (n, p)
        kept: list[PathPoint] = []
        first_of: dict[str, PathPoint] = {}  # a model state's digest -> the checkpoint that holds it first
        dropped: list[str] = []
        for point in points:
            load_fitting(scratch, dict(point.load()), point.source, fields["model"])
            first = first_of.setdefault(state_digest(scratch.state_dict()), point)
            if first is not point:  # e.g. final.pt after the last epoch_k.pt of a 'run/*.pt' glob
                dropped.append(f"{point.source} (= {first.source})")
                continue
            matrix[len(kept)] = flatten_difference(
                [t for _, t in named_weights(scratch, dir_type)], final_tensors, row_ignore
            )
            kept.append(point)
        if dropped:
            (log or _warn)(
                f"dropped {counted(len(dropped), 'checkpoint')} repeating an earlier one's weights: "
                + ", ".join(dropped)
            )
            points, matrix = kept, matrix[: len(kept)]
            if states is None:
                directions["checkpoints"] = [str(p.path) for p in points]
            if len(points) < 3:
                raise ValueError(
                    f"a PCA plane needs at least 3 different checkpoints, got {len(points)}: give the whole path"
                )

        pca_recipe = {
            "dir_type": dir_type,
            "ignore": ignore,
            "final_sha256": final_sha,
            "checkpoints_sha256": [p.sha256 for p in points],
        }
        tmp_dir = None
        if fields.get("dir_file"):
            dir_path, pca_recipe_check = Path(fields["dir_file"]), None
        elif out is not None:
            dir_path, pca_recipe_check = default_dir_file(out), pca_recipe
        else:
            tmp_dir = tempfile.TemporaryDirectory(prefix="lossatlas-pca-")
            dir_path, pca_recipe_check = default_dir_file(Path(tmp_dir.name) / "pca.h5"), pca_recipe
        try:
            if dir_path.exists() and not (overwrite and pca_recipe_check is not None):
                dirs, stats = _directions_from_file(dir_path, names, shapes, pca_recipe_check)
            else:
                dirs, result = pca_directions(
                    matrix, shapes, [torch.is_floating_point(t) for t in final_tensors], ignore
                )
                write_pca_directions(
                    dir_path, names, dirs, result, {"recipe_kind": "pca", "pca": json.dumps(pca_recipe, sort_keys=True)}
                )
                stats = result.stats()
            x, y = project(matrix, flatten_direction(dirs[0]), flatten_direction(dirs[1]), method)
            if fields.get("x") is None:
                fields["x"], fields["y"] = path_axes(x, y, num, margin)
            fields["dir_file"] = str(dir_path)
            surface_spec = SurfaceSpec.model_validate(fields)
            surface = compute_surface(
                surface_spec,
                out,
                model=final,
                data=data,
                device=device,
                progress=progress,
                should_stop=should_stop,
                overwrite=overwrite,
                write=write,
                ray=ray,
            )
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()
        if not surface.is_complete:
            return surface

        attrs = {
            "method": method,
            "dir_type": dir_type,
            "ignore": ignore,
            **pca_recipe,
            **({k: v.tolist() for k, v in stats.items()} if stats else {}),
        }
        if surface.trajectory is not None and surface.trajectory.attrs == attrs:
            return surface  # resumed a finished file
        metrics = _checkpoint_metrics(surface_spec, scratch, points, data, device)
        surface.trajectory = Trajectory(
            [p.label for p in points], np.array([p.epoch for p in points], dtype=np.int64), x, y, metrics, attrs
        )
        if out is not None:
            write(out, surface)
        return surface


def _checkpoint_metrics(
    spec: SurfaceSpec, model: nn.Module, points: Sequence[PathPoint], data: Splits | None, device: str | torch.device
) -> dict[str, np.ndarray]:
    """Each checkpoint's own metrics (its full state) on the surface's samples."""
    if data is None:
        splits, _ = _load_splits(spec)
    else:
        splits = {s: as_tensors(data[s]) for s in spec.splits}
    device = torch.device(device)
    model = model.to(device)
    evaluator = Evaluator(model, splits, spec.loss, spec.batch_size, device)
    metrics = {name: np.full(len(points), np.nan) for name in spec.metrics}
    for i, point in enumerate(points):
        load_fitting(model, dict(point.load()), point.source, spec.model)
        for name, value in evaluator.evaluate().items():
            metrics[name][i] = value
    return metrics
