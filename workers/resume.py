"""Whether an existing surface file may be resumed by a run: its recipe against the run's (settings,
weights, samples), then, once the run is set up, its device class, precision and the canary point
(:mod:`workers.provenance` says what each record holds). Every refusal is a :class:`StaleSurfaceError`
naming what changed, raised before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .h5io import Surface, read_surface
from .provenance import StaleSurfaceError, canary_mismatch, compute_class
from .spec import AxisSpec

__all__ = ["SettingsChanged", "StaleSurfaceError", "check_resumable", "comparable", "open_or_resume", "point_coords"]

# Where a file was found, not what it holds: left out when comparing recipes (the sha256s cover content).
_LOCATION_KEYS = ("checkpoint", "data_root", "dir_file", "download")
# Checked one by one with their own message (weights_sha256 covers the checkpoint's content as loaded).
_PROVENANCE_KEYS = ("weights_sha256", "samples", "compute", "checkpoint_sha256")
# What the run describes, not what its values depend on beyond the keys above: refreshed on resume.
_DESCRIPTIVE_KEYS = ("model_info",)


def comparable(recipe: dict[str, Any]) -> dict[str, Any]:
    """The part of a recipe that must match for a file to be resumed."""
    spec = {k: v for k, v in recipe.get("spec", {}).items() if k not in _LOCATION_KEYS}
    if "directions" in spec:
        paths = ("target", "target_y", "checkpoints")  # their contents are in the sha256s and the direction file
        spec["directions"] = {k: v for k, v in spec["directions"].items() if k not in paths}
    rest = {k: v for k, v in recipe.items() if k not in ("spec", "dir_file", *_PROVENANCE_KEYS, *_DESCRIPTIVE_KEYS)}
    return {"spec": spec, **rest}


Change = tuple[tuple[str, ...], Any, Any]  # a setting's place in the recipe, its value in the file, the run's


def _diff(old: dict, new: dict, where: tuple[str, ...] = ()) -> list[Change]:
    """The leaves in which two recipes differ; an axis (``x``, ``y``) counts as one value."""
    out: list[Change] = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict) and not (k in ("x", "y") and where == ("spec",)):
            out += _diff(a, b, (*where, k))
        elif a != b:
            out.append(((*where, k), a, b))
    return out


def _value(v: Any) -> str:
    """A recipe's value as the spec takes it: an axis as ``min:max:num``, the rest as Python writes them."""
    if isinstance(v, dict) and set(v) == {"min", "max", "num"}:
        return str(AxisSpec(**v))
    return repr(v)


class SettingsChanged(StaleSurfaceError):
    """The file was computed with other settings: ``changes`` lists them (place, file's value, run's), for
    a caller that names them its own way (the command line by its options)."""

    def __init__(self, path: Path, changes: list[Change]):
        self.changes = changes
        named = [
            f"{'.'.join(w[1:] if w[0] == 'spec' else w)}: {_value(a)} in the file, {_value(b)} now"
            for w, a, b in changes
        ]
        super().__init__(path, f"with other settings ({'; '.join(named[:3])})")


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "none"


def _samples_line(record: dict[str, Any]) -> str:
    shape = "x".join(map(str, record.get("shape", [])))
    return f"{record.get('count')} samples of {shape}, sha256 {_short(record.get('sha256'))}"


def open_or_resume(out: Path | None, recipe: dict[str, Any], overwrite: bool = False) -> Surface | None:
    """The surface in ``out`` to resume, after checking it holds what ``recipe`` would compute: None when
    there is none (no ``out``, no file, or ``overwrite``). Raises :class:`StaleSurfaceError` naming what
    changed: a setting, the weights, the data or (:func:`check_resumable`, once the run is set up) the
    precision or the model code. Nothing is written here."""
    if out is None or overwrite or not out.exists():
        return None
    try:
        previous = read_surface(out)
    except ValueError as e:  # not HDF5, truncated, not a surface: never replaced unless asked
        raise ValueError(f"{e}; choose another --out, or add --overwrite to replace it") from None
    if previous.reference or "spec" not in previous.recipe:
        raise ValueError(f"{out} exists and was not written by lossatlas; choose another --out")
    old = previous.recipe
    if "weights_sha256" not in old or "samples" not in old or "compute" not in old:
        raise StaleSurfaceError(out, "by an older lossatlas that recorded no digest of its weights and data")
    changes = _diff(comparable(old), comparable(recipe))
    if changes:
        raise SettingsChanged(out, changes)
    if old["weights_sha256"] != recipe["weights_sha256"]:
        raise StaleSurfaceError(
            out,
            f"from other model weights (sha256 of the weights and buffers as loaded: "
            f"{_short(old['weights_sha256'])} in the file, {_short(recipe['weights_sha256'])} now)",
        )
    for split, now in recipe["samples"].items():
        then = old["samples"].get(split, {})
        if then.get("sha256") != now["sha256"]:
            raise StaleSurfaceError(
                out, f"on other data ({split}: {_samples_line(then)} in the file; {_samples_line(now)} now)"
            )
    return previous


def point_coords(surface: Surface, index: tuple[int, ...]) -> tuple[float, ...]:
    """Coordinates of the grid point at ``index`` (``(ix,)`` or ``(iy, ix)``)."""
    if surface.ycoordinates is None:
        return (float(surface.xcoordinates[index[0]]),)
    return float(surface.xcoordinates[index[1]]), float(surface.ycoordinates[index[0]])


def check_resumable(
    out: Path, previous: Surface, recipe: dict[str, Any], point: Callable[..., dict[str, float]], counts: dict[str, int]
) -> None:
    """The checks that need the run set up: the same device class and precision, and the canary, one
    finished point (the nearest the centre) computed again by ``point(x[, y])`` and compared at the
    tolerance of the file's precision: changed model code (ReLU -> Tanh) changes no weight but changes
    that point. ``counts``: samples per split (an accuracy may move by one sample)."""
    then, now = compute_class(previous.recipe["compute"]), compute_class(recipe["compute"])
    if then != now:
        raise StaleSurfaceError(out, f"as {then}, this run would compute {now}; one file never mixes them")
    done = [tuple(int(i) for i in index) for index in np.argwhere(previous.done)]
    if not done:
        return
    index = min(done, key=lambda i: sum(c * c for c in point_coords(previous, i)))
    coords = point_coords(previous, index)
    values = point(*coords)
    stored = {name: float(previous.metrics[name][index]) for name in values}
    mismatch = canary_mismatch(stored, values, previous.recipe["compute"]["precision"], counts)
    if mismatch:
        at = ", ".join(f"{a}={c:g}" for a, c in zip("xy", coords))
        raise StaleSurfaceError(out, f"by other model code or software: the canary point {at} gives {mismatch}")
