"""The ``lossatlas`` command line: engine subcommands (``compute`` ...). The server package adds
``serve``; see ``server/cli.py``."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import inspect
import logging
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import get_args

import numpy as np
import torch
from pydantic import BaseModel, ValidationError

from . import __version__
from .cli_files import add_export, add_plot
from .cli_gallery import add_gallery, run_gallery_build
from .cli_train import add_train, run_train
from .data import DOWNLOADABLE
from .interrupts import dropped_unreported, handled_by
from .nnpack import quiet_nnpack
from .progress import ProgressBar, counted, percent
from .resume import SettingsChanged, StaleSurfaceError
from .spec import AxisSpec, DirectionsSpec, HessianSpec, SurfaceSpec, one_line
from .trajectory import compute_trajectory
from .usermodels import parse_model_args


def _choices(model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The allowed values of a spec field typed as a ``Literal``: the one place they are defined."""
    return get_args(model.model_fields[field].annotation)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers (e.g. 0.5,0.5,0.5)"
        ) from None


def _count(what: str) -> Callable[[str], int]:
    """An argparse type: a whole number of ``what``, at least 1."""

    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what} (1 or more)")
        return int(text)

    return parse


_threads = _count("threads")


def seconds(text: str) -> float:
    """An argparse type: a duration in seconds, above 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def add_compute(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compute",
        help="compute a 1-D or 2-D loss surface into an HDF5 file (resumable)",
        description="Compute L(w + x*dx + y*dy) on a grid. Run the same command again to resume.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="zoo name (resnet56, resnet56_noshort, vgg9, ...) or "
        "package.module:function (imported from the current directory first)",
    )
    p.add_argument(
        "--model-args",
        action="append",
        default=[],
        metavar="ARGS",
        help="""keyword arguments of the model function: '{"hidden": 256}' or hidden=256,act=relu""",
    )
    p.add_argument("--checkpoint", help="model weights (.t7/.pt/.pth; loaded with weights_only)")
    p.add_argument("--data", default="cifar10", choices=_choices(SurfaceSpec, "dataset"), help="dataset kind")
    p.add_argument("--data-root", help="directory or archive holding the data (tensors: the .npz/.pt file)")
    add_download_argument(p)
    p.add_argument(
        "--split",
        default="train",
        choices=_choices(SurfaceSpec, "split"),
        help="the samples whose loss is mapped: train, test, or both (a map of each)",
    )
    p.add_argument(
        "--samples", type=int, help="evaluate a seeded random subset of this many samples per split (default: all)"
    )
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the --samples subset")
    p.add_argument("--mean", type=_floats, help="per-channel normalization mean, overrides the dataset's")
    p.add_argument("--std", type=_floats, help="per-channel normalization std")
    p.add_argument("--batch-size", type=int, default=128, help="samples per forward pass")
    p.add_argument("--loss", default="ce", choices=_choices(SurfaceSpec, "loss"), help="cross-entropy or mse")
    p.add_argument(
        "--x", help="x axis as min:max:num, e.g. -1:1:51 (with pca, default: the path's extent and --margin)"
    )
    p.add_argument("--y", help="y axis as min:max:num; omit for a 1-D surface")
    p.add_argument("--dir-file", help="use the directions in this HDF5 file (ours or the reference code's)")
    p.add_argument(
        "--directions",
        choices=("random", "target", "pca"),
        help="random (default), target (with --target) or pca (the plane of a training path, --checkpoints)",
    )
    p.add_argument(
        "--checkpoints",
        nargs="+",
        help="pca: the path's checkpoints (files, a quoted glob such as "
        "'runs/r20/epoch_*.pt', or a lossatlas train directory); the final model: --checkpoint, "
        "else the last",
    )
    p.add_argument(
        "--projection",
        choices=_choices(DirectionsSpec, "projection"),
        help=f"pca: how checkpoints are projected (default {DirectionsSpec.model_fields['projection'].default})",
    )
    grid = inspect.signature(compute_trajectory).parameters  # the defaults of a grid around the path
    p.add_argument(
        "--grid-num",
        type=_count("points per axis"),
        help=f"pca without --x/--y: points per axis (default {grid['num'].default})",
    )
    p.add_argument(
        "--margin",
        type=float,
        help="pca without --x/--y: margin around the path, as a fraction of its extent "
        f"(default {grid['margin'].default})",
    )
    p.add_argument(
        "--proj-file",
        help="pca: also write the path's coordinates as the reference code's projection "
        "file (proj_xcoord, proj_ycoord), for its plot_2D.plot_trajectory",
    )
    p.add_argument(
        "--norm",
        choices=_choices(DirectionsSpec, "norm"),
        help="how a direction is scaled to the model's weights: filter (default; each filter to the norm of the "
        "model's), layer, weight (times the weights) or none (the default of pca)",
    )
    p.add_argument(
        "--ignore",
        choices=_choices(DirectionsSpec, "ignore"),
        help="biasbn (default): biases and BatchNorm parameters (1-D) do not move; none: they move as the "
        "reference code moves them (by x times themselves)",
    )
    p.add_argument(
        "--dir-type",
        choices=_choices(DirectionsSpec, "dir_type"),
        help="states adds BatchNorm running statistics; default: weights, "
        "states with --target so that x = 1 is exactly the target model",
    )
    p.add_argument("--seed", type=int, help="seed of the random directions (default 0)")
    p.add_argument("--same-dir", action="store_true", help="use the x direction for y too")
    p.add_argument("--target", help="checkpoint to interpolate towards: x direction = target - model")
    p.add_argument("--target-y", help="second target for a plane through three models")
    p.add_argument(
        "--fast",
        nargs="?",
        const=True,
        default=False,
        metavar="MODE",
        help="faster, not bit-exact: BN folding, channels-last; MODE fp32 or bf16 (default: bf16 on "
        "GPUs, fp32 on CPUs); centre and corners are also computed exactly and the deviation shown",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="with --fast: compile the model (torch.compile; "
        "a one-time cost of seconds to a minute; ~1.1x over --fast alone on CPUs)",
    )
    p.add_argument(
        "--points-per-pass",
        type=_count("points"),
        help="grid points evaluated together (default: 1 on CPUs, as many as fit in a quarter of a GPU's free memory)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_threads_argument(p)
    add_ray_argument(p)
    p.add_argument("--out", required=True, help="surface file to write (or resume)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute --out from scratch when it holds another computation (replaced when the first point is written)",
    )
    add_hessian_options(p)
    p.set_defaults(func=run_compute)


def add_ray_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="auto|ADDRESS",
        help="evaluate the points on a Ray cluster: auto (the one on this machine, else a new local one) "
        "or its address (needs pip install 'lossatlas[ray]'; default: none, the points run in this process)",
    )


def add_hessian_options(p: argparse.ArgumentParser) -> None:
    from .hessian import HVP_FORWARD_EQUIVALENTS

    d = HessianSpec()

    g = p.add_argument_group(
        "Hessian eigenvalues",
        "also map max_eig and min_eig, the extreme eigenvalues of the "
        "loss's Hessian in weight space (each point costs up to --hessian-steps Hessian-vector "
        f"products, each about {HVP_FORWARD_EQUIVALENTS:g} forward passes)",
    )
    g.add_argument(
        "--hessian", action="store_true", help="compute the eigenvalue maps and the centre's curvature summary"
    )
    g.add_argument(
        "--hessian-params",
        default=d.params,
        help="moved (default: what the directions move) or reference (every parameter with >1 dimension)",
    )
    g.add_argument(
        "--hessian-scale",
        default=d.scale,
        help="mean (the surface's loss) or batch_sum (the reference's: sum of batch means)",
    )
    g.add_argument(
        "--hessian-method",
        default=d.method,
        help="lanczos (default) or reference (SciPy eigsh, then eigsh of H - 0.51*max*I)",
    )
    g.add_argument(
        "--hessian-tol",
        type=float,
        default=d.tol,
        help=f"residual bound relative to the spectral radius (default {d.tol})",
    )
    g.add_argument(
        "--hessian-steps",
        type=int,
        default=d.max_steps,
        help=f"Lanczos steps per point at most (default {d.max_steps})",
    )
    g.add_argument("--no-curvature-summary", action="store_true", help="skip the centre's top-k, trace and density")


_HESSIAN_OPTIONS = {
    "params": "hessian_params",
    "scale": "hessian_scale",
    "method": "hessian_method",
    "tol": "hessian_tol",
    "max_steps": "hessian_steps",
}


def hessian_from_args(args: argparse.Namespace) -> dict | None:
    options = {k: getattr(args, a) for k, a in _HESSIAN_OPTIONS.items()} | {"summary": not args.no_curvature_summary}
    if not args.hessian:
        changed = [k for k, v in options.items() if v != getattr(HessianSpec(), k)]
        if changed:
            flag = _HESSIAN_OPTIONS.get(changed[0], "no_curvature_summary").replace("_", "-")
            raise ValueError(f"--{flag} is an option of the eigenvalue maps: add --hessian")
        return None
    try:
        HessianSpec(**options)
    except ValidationError as e:  # named by its flag, not the spec's field
        error = e.errors()[0]
        flag = "--" + _HESSIAN_OPTIONS[str(error["loc"][0])].replace("_", "-")
        raise ValueError(f"{flag} {error['input']}: {error['msg']}") from None
    return options


def spec_fields(args: argparse.Namespace) -> dict:
    """The surface's fields from the options (``x``/``y`` None when not given)."""
    kind = args.directions or ("target" if args.target else "pca" if args.checkpoints else "random")
    shaping = {"--norm": args.norm, "--seed": args.seed, "--ignore": args.ignore, "--same-dir": args.same_dir}
    shaping |= {"--target": args.target, "--target-y": args.target_y}
    given = [flag for flag, value in shaping.items() if value not in (None, False)]
    if args.dir_file and given:  # the recipe would record a setting that did not shape the directions used
        raise ValueError(f"{given[0]} makes new directions; --dir-file uses its own as they are: drop one of them")
    options = dict(
        seed=args.seed, ignore=args.ignore, same_dir=args.same_dir, target=args.target, target_y=args.target_y
    )
    directions = {"kind": kind} | {k: v for k, v in options.items() if v is not None}  # else the spec's defaults
    if args.dir_type is not None:  # else the spec's default for the kind
        directions["dir_type"] = args.dir_type
    if args.target_y and not args.target:
        raise ValueError("--target-y is the second target of a plane through three models: give --target too")
    if (args.mean is None) != (args.std is None):
        raise ValueError("give --mean and --std together (one value per channel each)")
    if args.proj_file and kind != "pca":
        raise ValueError("--proj-file is the projection of a training path: use it with --directions pca")
    if args.projection and kind != "pca":
        raise ValueError("--projection projects a training path's checkpoints: use it with --directions pca")
    for flag, value in (("--grid-num", args.grid_num), ("--margin", args.margin)):
        if value is not None and kind != "pca":
            raise ValueError(f"{flag} sizes the grid around a training path: use it with --directions pca")
        if value is not None and (args.x or args.y):
            raise ValueError(f"{flag} sizes the grid only when --x/--y are not given: drop {flag} or --x/--y")
    check_download(args)
    if kind == "pca":
        if not args.checkpoints:
            raise ValueError("--directions pca needs --checkpoints (files, a quoted glob or a train directory)")
        directions.update(checkpoints=args.checkpoints)
        if args.projection:  # else the spec's default
            directions["projection"] = args.projection
    elif args.checkpoints:
        raise ValueError("--checkpoints is used only with --directions pca")
    if args.norm is not None or kind != "pca":
        directions["norm"] = args.norm or "filter"
    return dict(
        model=args.model,
        model_args=parse_model_args(args.model_args),
        checkpoint=args.checkpoint,
        dataset=args.data,
        data_root=args.data_root,
        download=args.download,
        split=args.split,
        samples=args.samples,
        sample_seed=args.sample_seed,
        mean=args.mean,
        std=args.std,
        batch_size=args.batch_size,
        loss=args.loss,
        directions=directions,
        dir_file=args.dir_file,
        x=args.x,
        y=args.y,
        fast=args.fast,
        hessian=hessian_from_args(args),
    )


_SPEC_FLAGS = {
    "dataset": "--data",
    "kind": "--directions",
    **{k: f"--{v.replace('_', '-')}" for k, v in _HESSIAN_OPTIONS.items()},
}


def _flag(field: str) -> str:
    """The option of compute that sets a spec field."""
    return _SPEC_FLAGS.get(field, f"--{field.replace('_', '-')}")


_FIELD_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # same_dir, target_y: a name, not a word of the text
_FIELDS = {*SurfaceSpec.model_fields, *DirectionsSpec.model_fields, *HessianSpec.model_fields}


def named_by_options(message: str, fields: set[str], flag: Callable[[str], str], anywhere: Collection[str] = ()) -> str:
    """A refusal's field names as the options that set them: a snake_case one anywhere (``same_dir needs``
    -> ``--same-dir needs``), one of ``anywhere`` (names that are no word of the text: ``vmin``) anywhere,
    and one that starts the message (``epochs must be`` -> ``--epochs must be``)."""
    message = _FIELD_NAME.sub(lambda m: flag(m[0]) if m[0] in fields else m[0], message)
    if anywhere:
        message = re.sub(rf"(?<![-\w])(?:{'|'.join(map(re.escape, anywhere))})\b", lambda m: flag(m[0]), message)
    first = message.split(" ", 1)[0]
    return flag(first) + message[len(first) :] if first in fields else message


def surface_spec(fields: dict) -> SurfaceSpec:
    """The spec of ``compute``'s options; a field it refuses is named by its option (``--samples: ...``),
    and so is one the reason names (``--same-dir needs a 2-D grid``, not ``same_dir ...``)."""
    try:
        return SurfaceSpec.model_validate(fields)
    except ValidationError as e:
        parts = []
        for error in e.errors():
            loc = [str(part) for part in error["loc"]]
            field = loc[1] if loc[0:1] in (["directions"], ["hessian"]) and len(loc) > 1 else loc[0] if loc else ""
            message = error["msg"].removeprefix("Value error, ")
            if loc[1:] == ["num"] and error["type"] == "less_than_equal":  # pydantic's bound on an axis's points
                message = f"axis {fields[field]} has {error['input']} points; give at most {error['ctx']['le']}"
            message = named_by_options(message, _FIELDS, _flag)
            parts.append(f"{_flag(field)}: {message}" if field else message)
        raise ValueError("; ".join(parts)) from None


def _option_value(value: object) -> str:
    """A recipe's value as compute's options give it (``not given``, ``-1:1:51``, ``0.5,0.5,0.5``)."""
    if value is None or value is False:
        return "not given"
    if value is True or (isinstance(value, dict) and set(value) != {"min", "max", "num"}):
        return "given"
    if isinstance(value, dict):  # an axis
        return str(AxisSpec(**value))
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def stale_message(e: StaleSurfaceError) -> str:
    """Why ``--out`` cannot be resumed, settings named by compute's options (``--samples 32 in the file, not
    given now``, not the spec's ``samples: 32 ...``), and the command line's way out."""
    what = e.what
    if isinstance(e, SettingsChanged):
        named = []
        for where, old, new in e.changes[:3]:
            if where[0] != "spec":  # not an option's (e.g. model_params: another model)
                named.append(f"{'.'.join(where)}: {old!r} in the file, {new!r} now")
                continue
            nested = where[1] in ("directions", "hessian") and len(where) > 2
            field, rest = (where[2], where[3:]) if nested else (where[1], where[2:])
            flag = " ".join([_flag(field), *rest])
            named.append(f"{flag}{':' if rest else ''} {_option_value(old)} in the file, {_option_value(new)} now")
        what = f"with other settings ({'; '.join(named)})"
    return f"{e.path} was computed {what}; recompute it with --overwrite or choose another --out"


def spec_from_args(args: argparse.Namespace) -> SurfaceSpec:
    if args.x is None:
        raise ValueError("--x is required (min:max:num, e.g. -1:1:51); only --directions pca chooses it from the path")
    return surface_spec(spec_fields(args))


def add_download_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--download",
        action="store_true",
        help=f"let torchvision download the dataset ({', '.join(DOWNLOADABLE)}; the others are read from --data-root)",
    )


def check_download(args: argparse.Namespace) -> None:
    if args.download and args.data not in DOWNLOADABLE:
        raise ValueError(
            f"--download fetches {', '.join(DOWNLOADABLE)} through torchvision; --data {args.data} is read from "
            "--data-root as it is: drop --download"
        )


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=_threads,
        help="torch CPU threads (default: all cores; on a machine others share, 1 can be several times faster)",
    )


def set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        torch.set_num_threads(args.threads)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a batch system's time limit) stops a command as Ctrl-C does: the files
    as they are, each resumable; the bars closed where they stopped; no temporary or lock file left."""


class StopSignals:
    """The commands' Ctrl-C and SIGTERM: a KeyboardInterrupt (:class:`Terminated` for SIGTERM) at once, as
    Python's own handler raises for Ctrl-C, and remembered.

    Python drops a KeyboardInterrupt raised inside a ``__del__`` or a weakref callback, which the garbage
    collector runs at any point (:mod:`workers.interrupts`; the run went on to its end). The progress
    callbacks call :meth:`check`, which raises a remembered one at the next point."""

    def __init__(self) -> None:
        self.pending: int | None = None  # the signal received

    def _interrupt(self) -> KeyboardInterrupt:
        return Terminated() if self.pending == signal.SIGTERM else KeyboardInterrupt()

    def _handle(self, signum: int, frame: object) -> None:
        self.pending = signum
        raise self._interrupt()

    def check(self) -> None:
        if self.pending:
            raise self._interrupt()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM while the block runs, each where Python's own handling is in place (the
        main thread; Python's KeyboardInterrupt for SIGINT, the default end for SIGTERM): a program calling
        :func:`main` with its own handling keeps it."""
        python = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
        mine = (
            [s for s, handler in python.items() if signal.getsignal(s) is handler]
            if threading.current_thread() is threading.main_thread()
            else []
        )
        if not mine:
            yield
            return
        self.pending = None
        with (
            dropped_unreported(lambda e: bool(self.pending) and isinstance(e, KeyboardInterrupt)),  # check() raises it
            handled_by(self._handle, mine),
        ):
            yield


STOP = StopSignals()


class _Display:
    """The run's header line and progress bar, shown at the first point: a run refused while its inputs
    are checked prints only its one-line error."""

    def __init__(self, header: str):
        self.header = header
        self.bar: ProgressBar | None = None

    def __call__(self, p) -> None:
        STOP.check()
        if self.bar is None:
            print(self.header, file=sys.stderr, flush=True)
            self.bar = ProgressBar(p.total, close_at_total=False)  # the centre's curvature summary comes after
        self.bar.update(p.done, p.rate, p.eta, p.stage or f"{p.computed} new")

    def close(self) -> None:
        """End the bar's line (after an interruption too, so that the next message starts a line)."""
        if self.bar is not None:
            self.bar.close()

    @classmethod
    @contextlib.contextmanager
    def shown(cls, header: str) -> Iterator[_Display]:
        """The display of a computation run within, closed at its end; its refusal of an ``--out`` of
        other settings said in the command line's words."""
        show = cls(header)
        try:
            yield show
        except StaleSurfaceError as e:
            raise ValueError(stale_message(e)) from None
        finally:
            show.close()

    def result(self, surface, out: Path) -> str:
        """The run's last line: what the file holds, or that it was complete already (nothing reported)."""
        if self.bar is None and surface.is_complete:
            return (
                f"lossatlas: nothing computed: {out} already holds all {counted(surface.done.size, 'point')} "
                "of this computation (--overwrite recomputes them)"
            )
        line = f"lossatlas: {int(surface.done.sum())}/{counted(surface.done.size, 'point')} in {out}"
        nan = int((surface.done & np.logical_or.reduce([np.isnan(v) for v in surface.metrics.values()])).sum())
        return line + (f"; {nan} of them NaN" if nan else "")


def run_trajectory(args: argparse.Namespace) -> int:
    """``compute --directions pca``: the surface in the plane of a training path, with the path."""
    from .checks import check_not_an_input, check_out_path
    from .pca import write_projection
    from .trajectory import expand_checkpoints

    fields = spec_fields(args)
    try:
        path = [("a --checkpoints", f) for f in expand_checkpoints(args.checkpoints)]
    except (ValueError, OSError):  # refused with its reason by compute_trajectory
        path = []
    inputs = [("the --checkpoint", args.checkpoint), ("the --dir-file", args.dir_file)]
    inputs += [("the --data-root", args.data_root), *path]
    check_not_an_input(args.out, inputs)
    if args.proj_file:  # written last: its directory is checked first
        check_out_path(args.proj_file, "--proj-file", "proj.h5")
        check_not_an_input(args.proj_file, [*inputs, ("the --out", args.out)], "--proj-file")
    set_threads(args)
    out = Path(args.out)
    spec = surface_spec({**fields, "x": fields["x"] or "0:1:2"})  # its grid comes later
    h = spec.hessian
    header = f"lossatlas: {args.model} in the PCA plane of its training path{hessian_words(h, spec.splits[0])} -> {out}"
    with _Display.shown(header) as show:
        surface = compute_trajectory(
            fields,
            out,
            device=args.device,
            progress=show,
            overwrite=args.overwrite,
            ray=args.ray,
            log=lambda message: print(f"lossatlas: {message}", file=sys.stderr, flush=True),
            **{k: v for k, v in (("num", args.grid_num), ("margin", args.margin)) if v is not None},
        )
    t = surface.trajectory
    if t is not None and args.proj_file:
        write_projection(args.proj_file, t.x, t.y)
    line = show.result(surface, out)
    if t is not None:
        ratios = ", ".join(
            f"PC{i + 1} {percent(r)}" for i, r in enumerate(t.attrs.get("explained_variance_ratio_", []))
        )
        centre = surface.recipe.get("spec", {}).get("checkpoint")
        line += f"; path of {counted(len(t.labels), 'checkpoint')}, {t.labels[0]} to {t.labels[-1]}, around {centre} ({ratios})"
    print(line, file=sys.stderr)
    if h is not None:
        report_curvature(surface, h)
    return 0


def run_compute(args: argparse.Namespace) -> int:
    from .surface import compute_surface

    if args.directions == "pca" or args.checkpoints:
        return run_trajectory(args)
    from .checks import check_not_an_input
    from .files import existing_file

    spec = spec_from_args(args)
    set_threads(args)
    inputs = [
        ("--checkpoint", spec.checkpoint),
        ("--dir-file", spec.dir_file),
        ("--target", spec.directions.target),
        ("--target-y", spec.directions.target_y),
    ]
    for flag, path in inputs:
        if path:
            existing_file(path, f"{flag} {path}")
    check_not_an_input(args.out, [(f"the {flag}", path) for flag, path in [*inputs, ("--data-root", spec.data_root)]])
    out = Path(args.out)
    h = spec.hessian
    eig = hessian_words(h, spec.splits[0])
    header = (
        f"lossatlas: {spec.model} on {spec.dataset}/{spec.split}, {counted(spec.num_points, 'point')}{eig} -> {out}"
    )
    with _Display.shown(header) as show:
        surface = compute_surface(
            spec,
            out,
            device=args.device,
            progress=show,
            overwrite=args.overwrite,
            points_per_pass=args.points_per_pass,
            compile_fast=args.compile,
            ray=args.ray,
        )
    print(show.result(surface, out), file=sys.stderr)
    if h is not None:
        report_curvature(surface, h)
    check = surface.recipe.get("compute", {}).get("fast_check")
    if check:
        worst = ", ".join(
            f"{m} {a:.2g}" + (f" ({percent(r)})" if (r := check["max_rel"][m]) is not None else "")
            for m, a in check["max_abs"].items()
        )
        print(
            f"lossatlas: fast mode's largest deviation from exact at {counted(len(check['points']), 'point')}: {worst}",
            file=sys.stderr,
        )
    return 0


def hessian_words(h: HessianSpec | None, split: str) -> str:
    """The header's words for the eigenvalue maps ('' without them): of which loss, found how."""
    if h is None:
        return ""
    how = "SciPy eigsh, the reference's recipe" if h.method == "reference" else f"at most {h.max_steps} Lanczos steps"
    return f" with max_eig and min_eig of the {split} loss's Hessian ({how} per point)"


def report_curvature(surface, hessian: HessianSpec) -> None:
    """What a ``--hessian`` run stored: the eigenvalues' ranges, the largest Lanczos residual (relative to the
    spectral radius), the centre's summary, and a warning when a point's Lanczos run stopped at
    ``--hessian-steps`` before ``--hessian-tol`` (its values are then too small in magnitude: Ritz values lie
    inside the spectrum)."""
    m = surface.metrics
    line = "lossatlas: " + ", ".join(
        f"{name} {np.nanmin(m[name]):.4g} .. {np.nanmax(m[name]):.4g}" for name in ("max_eig", "min_eig")
    )
    residual = surface.attrs.get("hessian_residual")
    if hessian.method == "lanczos":
        line += (
            f" (Lanczos residuals up to {residual:.2g} of the spectral radius)"
            if residual is not None
            else " (Lanczos residuals not recorded: points computed by an older version are not checked against "
            "--hessian-tol)"
        )
    c = surface.attrs.get("curvature")
    if c:
        top = c["top_eigenvalues"][0]
        line += f"; at the centre: top eigenvalue {top:.4g}{'' if c['top_converged'] else ' (not converged)'}"
        line += f", trace {c['trace']:.4g}"
    print(line, file=sys.stderr)
    if hessian.method == "lanczos" and residual is not None and residual > hessian.tol:
        print(
            f"lossatlas: warning: Lanczos stopped at --hessian-steps {hessian.max_steps} before --hessian-tol "
            f"{hessian.tol:g}: max_eig and min_eig may be too small in magnitude; recompute with more "
            "--hessian-steps (--overwrite)",
            file=sys.stderr,
        )


class _HelpFormatter(argparse.HelpFormatter):
    """Each option's default at the end of its help, unless the help already speaks of it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text, default = action.help or "", action.default
        shown = default is not None and default is not False and default != [] and default != argparse.SUPPRESS
        if action.option_strings and shown and "default" not in text:  # 0 is shown: `0 in (False,)` is true
            text += " (default %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """The parser of ``lossatlas`` and, as their class, of its subcommands: one help format for all.
    ``epilog_of`` makes the help's last paragraph when the help is shown (``plot``'s lists matplotlib's
    colour maps: importing it would slow every command)."""

    def __init__(self, *args, epilog_of: Callable[[], str] | None = None, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        self._epilog_of = epilog_of

    def format_help(self) -> str:
        if self._epilog_of is not None:
            self.epilog = self._epilog_of()
        return super().format_help()


class _Version(argparse.Action):
    """``--version``: one line whatever the terminal's width (argparse's own wraps it at ``$COLUMNS``)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"lossatlas {__version__} (torch {torch.__version__})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lossatlas",
        description="Loss landscapes of neural networks.",
        epilog="lossatlas COMMAND --help describes a command and its options.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_compute(sub)
    add_train(sub)
    add_gallery(sub)
    add_plot(sub)
    add_export(sub)
    return parser


_AXIS_OPTIONS = ("--x", "--y")


def _join_axis_values(argv: list[str]) -> list[str]:
    """``--x -1:1:51`` -> ``--x=-1:1:51``: argparse would take ``-1:1:51`` for an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in _AXIS_OPTIONS:
            value = next(it, None)
            out.append(arg if value is None else f"{arg}={value}")
        else:
            out.append(arg)
    return out


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def check_options(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Refuse a ``--option`` the (sub)command does not know, naming the closest one it does: argparse says
    only "unrecognized arguments" under the top command's usage, or, when the typo is of a required option
    (``--modle``), that the option is missing."""
    for token in argv:
        if token == "--":
            return
        commands = _subcommands(parser)
        if token in commands:
            parser = commands[token]
        elif token.startswith("--"):
            name = token.split("=", 1)[0]
            known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
            if not any(o.startswith(name) for o in known):  # argparse takes a unique prefix of an option too
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]}?" if close else f"{parser.prog} --help lists the options"
                parser.error(f"unrecognized option {name}: {hint}")


# the commands whose work an interruption keeps, for the same command to go on with
_RESUMABLE = (run_compute, run_train, run_gallery_build)

OWN_SOURCES = (Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "server")


def _showing_own_warnings_in_one_line(
    python_show: Callable[..., None], words: Callable[[str], str] = str
) -> Callable[..., None]:
    """``warnings.showwarning`` for the command: lossatlas's own warnings as one line like its others
    (``lossatlas: warning: ...``, in the command's ``words``), another library's as Python shows them."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if any(Path(filename).resolve().is_relative_to(d) for d in OWN_SOURCES):
            print(f"lossatlas: warning: {words(str(message))}", file=sys.stderr, flush=True)
        else:
            python_show(message, category, filename, lineno, file, line)

    return show


def _quiet_after_broken_pipe() -> None:
    """Point stdout and stderr at /dev/null: what is still buffered for a reader that is gone is dropped,
    not written (and refused again) as Python exits."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # not a file (a test's captured stream): nothing to drop
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


@contextlib.contextmanager
def _engine_notes_shown() -> Iterator[None]:
    """The engine's notes (the ``lossatlas.data`` logger at INFO: a first decode of a dataset, which takes tens of
    seconds) as lines like the command's own, while it runs; a program calling the engine keeps its logging."""
    engine = logging.getLogger("lossatlas.data")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("lossatlas: %(message)s"))
    level, propagate = engine.level, engine.propagate
    engine.addHandler(handler)
    engine.setLevel(logging.INFO)
    engine.propagate = False
    try:
        yield
    finally:
        engine.removeHandler(handler)
        engine.setLevel(level)
        engine.propagate = propagate


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    parser = parser or build_parser()
    argv = _join_axis_values(sys.argv[1:] if argv is None else list(argv))
    check_options(parser, argv)
    args = parser.parse_args(argv)
    command = " ".join(filter(None, ("lossatlas", args.command, getattr(args, "gallery_command", None))))
    # compute's spec fields by its options (the engine's "dir_type weights" as "--dir-type weights")
    words = (lambda m: named_by_options(m, _FIELDS, _flag)) if args.func is run_compute else str
    shown, warnings.showwarning = warnings.showwarning, _showing_own_warnings_in_one_line(warnings.showwarning, words)
    quiet_nnpack()  # no C++ line of torch's in the command's output
    try:
        with STOP.installed(), _engine_notes_shown():
            status = args.func(args)
            sys.stdout.flush()  # a reader gone is met here, not as Python exits ("Exception ignored ...")
            return status
    except BrokenPipeError:  # the output's reader is gone (lossatlas gallery list | head): end as other tools do
        _quiet_after_broken_pipe()
        parser.exit(128 + signal.SIGPIPE)
    except (ValueError, ValidationError, OSError) as e:  # OSError: a path the file system refused
        parser.exit(2, f"{command}: error: {one_line(e)}\n")
    except KeyboardInterrupt as e:  # Ctrl-C on a terminal: over the ^C it echoed; in a log, a line like the others
        terminated = isinstance(e, Terminated)
        lead = "\r" if sys.stderr.isatty() and not terminated else ""
        then = "; run the same command again to resume" if args.func in _RESUMABLE else ""
        parser.exit(
            143 if terminated else 130, f"{lead}{command}: {'terminated' if terminated else 'interrupted'}{then}\n"
        )
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
