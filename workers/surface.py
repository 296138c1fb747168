"""Compute a loss surface from a :class:`SurfaceSpec` into an HDF5 file, resumably.

The output file is rewritten (atomically) after every finished point, in coarse-to-fine order, so at
any moment it is a valid, lower-resolution surface. Run the same spec against the same file again and
it continues where it stopped, computing no finished point again. A file made from anything else
(settings, weights, data, precision, or model code: see :mod:`workers.provenance`) is refused rather than
mixed; ``overwrite=True`` recomputes it, replacing the file only when the new run writes its first point.

``compute_surface`` runs in three steps: :func:`~workers.resume.open_or_resume` (the existing file's
checks against the recipe; :mod:`workers.resume`), :func:`load_directions` (read, or made and written
with the first point) and :func:`evaluate_grid` (the point loop; an executor evaluates the points, in this
process or on a Ray cluster: :mod:`workers.executors`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from . import __version__
from .batches import as_tensors
from .checkpoints import load_model, load_state_dict
from .checks import check_data_fits, check_out_path, resolve_device
from .data import DATASET_LABELS, load_split
from .directions import Direction, named_weights, negative_variance_points, random_directions, target_direction
from .evaluate import weights_dtype
from .executors import ChunkValues, Coords, Executor, LocalExecutor, PointFn, evaluation_mode, make_executor
from .fastmode import fast_precision
from .files import remove_stale_tmp, sha256_file, writing
from .grid import coarse_to_fine
from .h5io import Surface, default_dir_file, directions_digest, read_directions, write_directions, write_surface
from .hessian import RESIDUAL, add_tally, curvature_evaluator
from .objective import AccuracyFn, LossFn, Objective, OutputPick, describe, make_objective
from .pointeval import PointEvaluator, check_points
from .progress import counted
from .provenance import compute_record, merge_compute, samples_record, weights_digest
from .resume import StaleSurfaceError, check_resumable, open_or_resume, point_coords
from .spec import SurfaceSpec
from .stats import landscape_stats

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]

INTERPOLATION_LABELS = {
    "states": "parameters and BatchNorm running statistics move: x = 1 is exactly the target model",
    "weights": "parameters only: BatchNorm running statistics stay the first model's, so x = 1 is not the target model",
}


@dataclass
class Progress:
    """What a progress callback receives after each finished point."""

    done: int  # points finished, in the file
    total: int
    computed: int  # points computed by this run
    elapsed: float  # seconds in this run
    new: list[tuple[int, int, dict[str, float]]] = field(default_factory=list)  # (ix, iy, metrics)
    stage: str = ""  # what a long point is doing now (Hessian: "Lanczos step 12/100 at (0.5, -0.25)")

    @property
    def rate(self) -> float:
        """Points per second in this run."""
        return self.computed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


def _make_directions(spec: SurfaceSpec, model: nn.Module) -> list[Direction]:
    d = spec.directions
    count = spec.ndim
    if d.kind == "pca":  # workers.trajectory writes them (with their statistics) and passes dir_file
        raise ValueError("pca directions need the checkpoints of a path: use workers.trajectory.compute_trajectory")
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


def model_info(model: nn.Module) -> dict[str, Any]:
    """What the recipe says of the model object evaluated: its class, dtype, and which parameters were
    frozen (``requires_grad=False``; the directions move them like the others, as the paper's do)."""
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    return {
        "class": describe(type(model)),
        "dtype": str(weights_dtype(model)).removeprefix("torch."),
        "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "frozen": frozen,
    }


def build_recipe(
    spec: SurfaceSpec, model: nn.Module | None = None, user_data: bool = False, splits: Splits | None = None
) -> dict[str, Any]:
    """The recipe stored in the file: the spec plus fingerprints of every input file, and, given the
    model and the splits, digests of the weights and samples evaluated (:mod:`workers.provenance`)."""
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
    if spec.directions.kind == "target":
        recipe["interpolation"] = INTERPOLATION_LABELS[spec.directions.dir_type]
    if model is not None:
        recipe["model_params"] = int(sum(p.numel() for p in model.parameters()))
        recipe["weights_sha256"] = weights_digest(model)
        recipe["model_info"] = model_info(model)
    if splits is not None:
        recipe["samples"] = samples_record(splits)
    return recipe


def load_directions(
    spec: SurfaceSpec, model: nn.Module, out: Path | None, previous: Surface | None, overwrite: bool = False
) -> tuple[list[Direction], Path | None, bool]:
    """The directions: from ``spec.dir_file``, from the direction file of the run being resumed, or new
    (the seed makes the same again). Returns them, their file, and whether that file is still to be
    written (new directions are written with the first point, so a run that fails leaves no file).

    New directions never replace other ones in ``<out stem>.dirs.h5`` left by an earlier run whose
    surface file is gone (other surfaces may name it as their ``dir_file``), unless ``overwrite``."""
    names = [n for n, _ in named_weights(model, spec.directions.dir_type)]
    shapes = [tuple(t.shape) for _, t in named_weights(model, spec.directions.dir_type)]
    dir_path = Path(spec.dir_file) if spec.dir_file else (default_dir_file(out) if out is not None else None)
    if spec.dir_file or (previous is not None and dir_path is not None and dir_path.exists()):
        directions = read_directions(dir_path, names, shapes)
        if len(directions) < spec.ndim:
            raise ValueError(
                f"direction file {dir_path} holds {counted(len(directions), 'direction')}, a {spec.ndim}-D surface needs {spec.ndim}"
            )
        directions, pending = directions[: spec.ndim], False
    else:
        directions, pending = _make_directions(spec, model), dir_path is not None
        if pending and not overwrite and dir_path.exists():
            try:
                kept = directions_digest(read_directions(dir_path, names, shapes)[: spec.ndim])
            except ValueError:
                kept = None
            if kept != directions_digest(directions):
                raise ValueError(
                    f"{dir_path} holds other directions than these (another seed, normalization or model) and "
                    "other surfaces may use it: reuse it with --dir-file (dir_file=), remove it, or add "
                    "--overwrite to replace it"
                )
            pending = False  # the same directions: the file stays as it is
    if previous is not None and previous.attrs.get("directions_sha256") not in (None, directions_digest(directions)):
        raise StaleSurfaceError(out, f"with directions that differ from those now in {dir_path}")
    return directions, dir_path, pending


class GridPoint:
    """Evaluates the model at points ``w + x*dx + y*dy``: the metrics (:class:`PointEvaluator`, K points
    per pass where it pays) and, when the spec asks, the Hessian's extreme eigenvalues (one point at a time)."""

    def __init__(
        self,
        model: nn.Module,
        directions: list[Direction],
        splits: Splits,
        spec: SurfaceSpec,
        device: torch.device,
        points_per_pass: int | None = None,
        compile_fast: bool = False,
        objective: Objective | None = None,
    ):
        if spec.hessian is not None and points_per_pass not in (None, 1):
            raise ValueError(
                "the Hessian maps are computed one point per pass: leave points_per_pass unset (--points-per-pass)"
            )
        self.metrics = PointEvaluator(  # exact evaluations run with TF32 off, on GPUs too
            model,
            directions,
            splits,
            dir_type=spec.directions.dir_type,
            loss=objective or spec.loss,
            batch_size=spec.batch_size,
            device=device,
            fast=fast_precision(spec.fast, device),
            compile=compile_fast,
            points_per_pass=1 if spec.hessian is not None else points_per_pass,
        )
        self.precision = self.metrics.precision
        self.counts = self.metrics.counts
        self.curvature = curvature_evaluator(spec, model, self.metrics.evaluator.splits, directions)  # max_eig, min_eig
        self.on_stage: Callable[[str], None] | None = None  # told each Lanczos step of a point

    @property
    def points_per_pass(self) -> int:
        return self.metrics.points_per_pass

    def evaluate(self, points: list[tuple[float, ...]]) -> list[dict[str, float]]:
        """The values at each of ``points``, in order."""
        if self.curvature is None:
            return self.metrics.evaluate(points)
        out = []
        for coords in points:
            values = self.metrics.evaluate_one(coords)  # leaves the weights at the point for the Hessian
            values.update(self.curvature.evaluate(self._stage_reporter(coords)))
            out.append(values)
        return out

    def __call__(self, *coords: float) -> dict[str, float]:
        return self.evaluate([coords])[0]

    def _stage_reporter(self, where: tuple[float, ...] | str) -> Callable[[str, int, int], None] | None:
        if self.on_stage is None:
            return None
        at = where if isinstance(where, str) else "(" + ", ".join(f"{c:.4g}" for c in where) + ")"
        return lambda what, step, steps: self.on_stage(f"{what} {step}/{steps} at {at}")

    def curvature_summary(self) -> dict[str, Any]:
        """The Hessian's summary at the centre (the model's own weights): top-k, trace, density."""
        self.metrics.flat.restore()
        return self.curvature.summary(self._stage_reporter("the centre"))


@dataclass
class GridWork:
    """A surface's point work for an executor (:class:`~workers.executors.PointWork`).

    The local executor evaluates with this run's own ``point``. Shipped to a Ray actor, the work is
    pickled without it (``model`` is the unmoved model, on the CPU) and the actor builds its own
    :class:`GridPoint` on its device: the same evaluation code, so the same values bit for bit.
    """

    model: nn.Module
    directions: list[Direction]
    splits: Splits
    spec: SurfaceSpec
    points_per_pass: int | None = None  # as asked; None: the evaluator's choice on its device
    compile_fast: bool = False
    objective: Objective | None = None
    point: GridPoint | None = None  # this process's; never shipped

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "point": None}

    @property
    def chunk_points(self) -> int:
        """Points a chunk should hold here: what this process's evaluator takes in one pass."""
        return self.point.points_per_pass if self.point is not None else (self.points_per_pass or 1)

    def start(self, device: torch.device) -> PointFn:
        point = self.point or GridPoint(
            self.model,
            self.directions,
            self.splits,
            self.spec,
            device,
            self.points_per_pass,
            self.compile_fast,
            self.objective,
        )

        def evaluate(chunk: Sequence[Coords]) -> ChunkValues:
            values = point.evaluate(list(chunk))
            return ChunkValues(values, point.curvature.take_tally() if point.curvature is not None else {})

        return evaluate


def evaluate_grid(
    surface: Surface,
    work: GridWork,
    executor: Executor,
    out: Path | None,
    before_first_write: Callable[[], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    t_start: float | None = None,
    write: Callable[[Path, Surface], None] = write_surface,
) -> Surface:
    """Compute the points ``surface.done`` lacks, coarse to fine, on ``executor``, writing ``out`` with
    ``write`` after each chunk of points it returns (``before_first_write`` runs once, just before the
    first write)."""
    t_start = time.perf_counter() if t_start is None else t_start
    xs, ys = surface.xcoordinates, surface.ycoordinates
    nx, ny = len(xs), (len(ys) if ys is not None else 1)
    elapsed_before = float(surface.attrs.get("elapsed_s", 0.0))
    done_flat = surface.done.reshape(-1)
    total = done_flat.size
    computed = 0
    t_run = time.perf_counter()
    if progress is not None and work.point is not None:  # stages of a point are reported from this process only
        work.point.on_stage = lambda text: progress(
            Progress(int(surface.done.sum()), total, computed, time.perf_counter() - t_run, stage=text)
        )

    def save() -> None:
        nonlocal before_first_write
        if out is None:
            return
        if before_first_write is not None:
            before_first_write()
            before_first_write = None
        write(out, surface)

    def pending(level: np.ndarray) -> list[tuple[int, Coords]]:  # (flat index, coordinates) not yet done
        return [
            (int(i), point_coords(surface, (int(i),) if ys is None else divmod(int(i), nx)))
            for i in level
            if not done_flat[i]
        ]

    levels = [pending(level) for level in coarse_to_fine(nx, ny)]
    record_residual = RESIDUAL in surface.attrs or not done_flat.any()  # else points without one came before
    with contextlib.closing(executor.map(work, levels, should_stop)) as results:
        for chunk, chunk_values in results:
            new = []
            for (flat_index, _), values in zip(chunk, chunk_values.values):
                iy, ix = divmod(flat_index, nx)
                index = (ix,) if ys is None else (iy, ix)
                for name, value in values.items():
                    surface.metrics[name][index] = value
                surface.done[index] = True
                new.append((ix, iy, values))
            computed += len(chunk)
            add_tally(surface.attrs, chunk_values.tally, record_residual)
            now = time.perf_counter()
            surface.attrs["elapsed_s"] = elapsed_before + (now - t_start)
            if surface.is_complete:
                surface.attrs.update(landscape_stats(surface))
            save()
            if progress is not None:
                progress(Progress(int(surface.done.sum()), total, computed, now - t_run, new))
    if surface.is_complete and "landscape_stats" not in surface.attrs:
        surface.attrs.update(landscape_stats(surface))
        save()
    return surface


def compute_surface(
    spec: SurfaceSpec,
    out: str | Path | None = None,
    *,
    model: nn.Module | None = None,
    data: Splits | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    overwrite: bool = False,
    write: Callable[[Path, Surface], None] = write_surface,
    points_per_pass: int | None = None,
    compile_fast: bool = False,
    ray: str | None = None,
    executor: Executor | None = None,
    loss: LossFn | None = None,
    accuracy: AccuracyFn | str | None = "auto",
    output: OutputPick = None,
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
        ``{"train": ..., "test": ...}`` to use instead of loading ``spec.dataset``: ``(inputs, targets)``
        tensors, a map-style dataset, or any iterable of batches such as a ``DataLoader``. It is read once
        into two tensors before the first point, so every point sees the same samples in the same order.
    device : str
        ``"cpu"`` or ``"cuda"``; model and data are moved there once (with Ray: on every actor).
    progress : callable, optional
        Called with a :class:`Progress` after every finished point.
    should_stop : callable, optional
        Checked between points; when it returns True the partial surface is returned (and kept in ``out``).
    overwrite : bool
        Recompute from scratch even when ``out`` holds a surface (of this or another recipe). The old
        file (and its direction file) is replaced only when the first new point is written.
    write : callable, optional
        ``write(out, surface)`` stores the surface after each point (a job worker's is fenced by its lease).
    points_per_pass : int, optional
        Grid points evaluated together in one pass (each chunk is points of the current coarse-to-fine
        level); by default 1 on CPUs and as many as fit on GPUs (:class:`~workers.pointeval.PointEvaluator`).
    compile_fast : bool
        Run the fast mode's model through ``torch.compile`` (a one-time compile per batch shape, seconds to
        a minute; about 1.1x over the uncompiled fast mode on a CPU, bench/README.md). Recorded as
        ``recipe["compute"]["compiled"]``.
    ray : str, optional
        Evaluate the points on a Ray cluster: ``"auto"`` (the one on this machine, else a new local one)
        or a cluster address. This process still writes ``out``; a file resumes whichever ran it before.
    executor : Executor, optional
        Evaluate the points with this executor (:mod:`workers.executors`) instead of the one ``ray`` names.
    loss : callable, optional
        ``(outputs, targets) -> per-sample losses`` (shape ``(N,)``) instead of ``spec.loss``; the
        surface's ``*_loss`` is their mean. Its name (``module.qualname``) goes into the recipe.
    accuracy : callable, "top1", "auto" or None
        ``(outputs, targets) -> per-sample scores in [0, 1]``; ``*_acc`` is 100 x their mean. "auto":
        top-1 for the built-in losses, none (no ``*_acc`` metrics) for a callable ``loss``.
    output : str, int or callable, optional
        Picks the loss's input from what the model returns: a dict key, a tuple index or a function.

    Returns
    -------
    Surface
        Coordinates, metrics (NaN where not computed), done mask, recipe.

    Raises
    ------
    StaleSurfaceError
        ``out`` holds a surface computed from other settings, weights, data, precision or model code.
    OutputBusy
        Another run (process) is writing ``out`` (:func:`workers.files.writing`).
    """
    t_start = time.perf_counter()
    if points_per_pass is not None and points_per_pass < 1:
        raise ValueError(f"points per pass must be at least 1, got {points_per_pass}")
    if compile_fast and not spec.fast:
        raise ValueError("compiling is part of the fast mode: add --fast (fast=True)")
    if ray is not None and executor is not None:
        raise ValueError("give ray or executor, not both")
    local = isinstance(executor, LocalExecutor) or (executor is None and ray is None)
    if local or torch.cuda.is_available() or not str(device).startswith("cuda"):
        device = here = resolve_device(device)
    else:  # the Ray actors' GPU; this process (the data check, the canary point) works on its CPU
        device, here = resolve_device(device, remote=True), torch.device("cpu")
        if spec.fast:
            raise ValueError(
                "--fast on Ray GPUs needs a GPU where lossatlas runs too (its precision and canary "
                "point are checked here); run it on a GPU node or drop --fast"
            )
    executor = executor or make_executor(device, ray)
    out = check_out_path(out) if out is not None else None
    # one run at a time writes out (the default writer's fence; a job's writer is fenced by its lease)
    with writing(out if write is write_surface else None):
        if out is not None:
            remove_stale_tmp(out)

        base = load_model(spec.model, spec.checkpoint, spec.model_args) if model is None else model
        model = copy.deepcopy(base).to(here).eval()
        shipped = None if local else copy.deepcopy(base).cpu().eval()  # the actors' copy, unmoved by GridPoint
        if data is None:
            splits, indices = _load_splits(spec)
        else:
            missing = [s for s in spec.splits if s not in data]
            if missing:
                raise ValueError(
                    f"data lacks the {'split' if len(missing) == 1 else 'splits'} {', '.join(missing)} that split={spec.split!r} needs"
                )
            splits, indices = {s: as_tensors(data[s]) for s in spec.splits}, {}
        dtype = weights_dtype(model, spec.directions.dir_type)
        if dtype != torch.float32 and (spec.fast or spec.hessian is not None):
            option = "fast" if spec.fast else "hessian"
            raise ValueError(
                f"{option} works on float32 models only, this one is {dtype}: pass model.float() or leave out {option}"
            )
        splits = {s: (x.to(dtype) if torch.is_floating_point(x) else x, y) for s, (x, y) in splits.items()}
        objective = make_objective(spec.loss if loss is None else loss, accuracy, output)
        if objective.recipe is not None and spec.hessian is not None:
            raise ValueError(
                "the Hessian maps use the spec's built-in loss: leave out hessian, or loss/accuracy/output"
            )
        if objective.builtin is not None:  # a classifier's logits and labels; a user's loss checks its own
            check_data_fits(model, splits, spec.model, here, objective.output)
        recipe = build_recipe(spec, model, user_data=data is not None, splits=splits)
        if objective.recipe is not None:
            recipe["objective"] = objective.recipe

        previous = open_or_resume(out, recipe, overwrite)
        directions, dir_path, dirs_pending = load_directions(spec, model, out, previous, overwrite)
        digest = directions_digest(directions)
        names = [n for n, _ in named_weights(model, spec.directions.dir_type)]
        metrics = [m for m in spec.metrics if objective.correct is not None or not m.endswith("_acc")]
        nan_points = _negative_variances(spec, model, directions, metrics)

        with evaluation_mode():
            point = GridPoint(model, directions, splits, spec, here, points_per_pass, compile_fast, objective)
            # how the points are computed, recorded where they are (a GPU this process may lack)
            record = compute_record if here == device else functools.partial(executor.run_here, compute_record)
            recipe["compute"] = record(device, point.precision, spec.fast)
            if previous is not None:
                check_resumable(out, previous, recipe, point, point.counts)
                recipe["compute"] = merge_compute(previous.recipe["compute"], recipe["compute"])
                surface = previous
                surface.recipe = recipe  # same content; refreshed paths
            else:
                surface = _new_surface(spec, recipe, indices, metrics)
            if point.metrics.fast is not None and not surface.is_complete:  # the fast mode's error, measured before use
                recipe["compute"]["fast_check"] = point.metrics.fast_check(
                    check_points(surface.xcoordinates, surface.ycoordinates)
                )
                recipe["compute"]["compiled"] = point.metrics.fast.compiled is not None
            surface.attrs["device"] = str(device)
            surface.attrs["executor"] = executor.description
            surface.attrs[NEGATIVE_VARIANCE_POINTS] = nan_points  # 0 too: a reader tells "none" from "not known"
            surface.attrs["directions_sha256"] = digest
            if dir_path is not None:
                surface.dir_file = dir_path.name
                if not dirs_pending:
                    surface.attrs["dir_file_sha256"] = sha256_file(dir_path)

            def write_directions_file() -> None:
                if dirs_pending:
                    write_directions(dir_path, names, directions, {"recipe_kind": spec.directions.kind})
                    surface.attrs["dir_file_sha256"] = sha256_file(dir_path)

            work = GridWork(
                shipped,
                directions,
                splits,
                spec,
                points_per_pass,
                compile_fast,
                objective,
                point=None if shipped is not None else point,
            )
            surface = evaluate_grid(
                surface, work, executor, out, write_directions_file, progress, should_stop, t_start, write
            )
            if point.curvature is not None:
                _finish_curvature(surface, point, spec, out, write)
            return surface


def _finish_curvature(
    surface: Surface,
    point: GridPoint,
    spec: SurfaceSpec,
    out: Path | None,
    write: Callable[[Path, Surface], None] = write_surface,
) -> None:
    """Once every point is done, add the centre's summary; add what this process's evaluator did that no
    chunk reported (the summary's products; with Ray, the canary point a resume computes here)."""
    if spec.hessian.summary and surface.is_complete and "curvature" not in surface.attrs:
        surface.attrs["curvature"] = point.curvature_summary()
    tally = point.curvature.take_tally()
    if tally:
        add_tally(surface.attrs, tally, RESIDUAL in surface.attrs)
        if out is not None and out.exists():
            write(out, surface)


def _grid(spec: SurfaceSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """The grid's x and y coordinates (y None for a 1-D surface)."""
    return spec.x.axis().coordinates(), spec.y.axis().coordinates() if spec.y is not None else None


NEGATIVE_VARIANCE_POINTS = "negative_variance_points"  # attribute: how many grid points are NaN for that


def negative_variance_words(count: int, total: int, metrics: Sequence[str], where: str = "") -> str:
    """What ``count`` of a surface's ``total`` grid points, NaN because their directions move a BatchNorm
    running variance below zero (:data:`NEGATIVE_VARIANCE_POINTS`), mean to its user: every one of its
    ``metrics`` is NaN there (the model's output is), not the loss alone. The engine's warning and a job's
    warnings say it in these words; ``where`` tells the points, where it can (" (every x outside [a, b])")."""
    names = metrics[0] if len(metrics) == 1 else f"{', '.join(metrics[:-1])} and {metrics[-1]}"
    return (
        f"{count} of {total} grid points move a BatchNorm running variance below zero{where}: "
        f"{names} {'is' if len(metrics) == 1 else 'are'} NaN there; dir_type weights keeps the model's running "
        "statistics"
    )


def _negative_variances(spec: SurfaceSpec, model: nn.Module, directions: list[Direction], metrics: list[str]) -> int:
    """How many grid points move a BatchNorm running variance below zero (every metric is NaN there), said
    before computing them: ``states`` directions extrapolate the running statistics past their ends."""
    xs, ys = _grid(spec)
    mask = negative_variance_points(model, directions, spec.directions.dir_type, xs, ys)
    count = int(mask.sum())
    if count:
        valid = xs[~mask.numpy()] if ys is None else []
        where = f" (every x outside [{min(valid):g}, {max(valid):g}])" if len(valid) else ""
        warnings.warn(negative_variance_words(count, mask.numel(), metrics, where), stacklevel=3)
    return count


def _new_surface(
    spec: SurfaceSpec, recipe: dict[str, Any], indices: dict[str, np.ndarray], metrics: list[str]
) -> Surface:
    """An empty surface of ``spec``'s grid, every metric NaN, nothing done."""
    xs, ys = _grid(spec)
    shape = (len(xs),) if ys is None else (len(ys), len(xs))
    surface = Surface(
        xs,
        ys,
        {m: np.full(shape, np.nan) for m in metrics},
        np.zeros(shape, dtype=bool),
        recipe,
        attrs={
            "lossatlas_version": __version__,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "elapsed_s": 0.0,
        },
    )
    if spec.samples is not None:
        for name, idx in indices.items():
            surface.arrays[f"samples_{name}"] = idx
    return surface
