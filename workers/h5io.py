"""HDF5 surface and direction files: a superset of the reference code's layout.

Surface file: ``xcoordinates`` (nx), ``ycoordinates`` (ny; absent for 1-D), one float64 dataset per
metric of shape ``(ny, nx)`` indexed ``[iy, ix]`` (1-D: ``(nx,)``), a ``done`` mask (uint8) of the same
shape, ``dir_file`` (the direction file's name, a string dataset as the reference writes it), and the
recipe as a JSON attribute. Files are replaced atomically (written beside, then renamed), so a reader
never sees a half-written file and a killed writer leaves the last complete state.

Reference files have no ``done`` mask: their pending points are -1. Their non-square grids are stored
scrambled (a ``(nx, ny)`` array whose flat order is row-major ``(ny, nx)``); :func:`read_surface`
undoes that.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from .directions import Direction
from .files import atomic_path

FORMAT = "lossatlas-surface/1"
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "max_eig", "min_eig")
# The reference's pending value of each metric: -1, but its eigenvalue script starts min_eig at +1.
DIRS_SUFFIX = ".dirs.h5"  # a surface's directions beside it: surf.h5 -> surf.dirs.h5


def default_dir_file(out: Path) -> Path:
    """``surf.h5`` -> ``surf.dirs.h5``."""
    return out.with_name(out.stem + DIRS_SUFFIX)


def is_dir_file(path: Path) -> bool:
    """A directions file (``*.dirs.h5``), not a surface."""
    return path.name.endswith(DIRS_SUFFIX)


_REFERENCE_PENDING = {"min_eig": 1.0}


@dataclass
class Trajectory:
    """Checkpoints of a training run projected onto a surface's plane: the ``trajectory`` group.

    ``metrics`` are each checkpoint's own loss and accuracy (its full state, BatchNorm statistics
    included) on the surface's samples; ``attrs`` say how the path was projected and from what.
    """

    labels: list[str]
    epochs: np.ndarray  # int64, -1 where unknown
    x: np.ndarray  # float64 coordinates in the surface's directions
    y: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)  # train_loss ... per checkpoint
    attrs: dict[str, Any] = field(default_factory=dict)  # method, dir_type, checkpoints' sha256 ...


@dataclass
class Surface:
    """A (possibly partial) loss surface in memory."""

    xcoordinates: np.ndarray
    ycoordinates: np.ndarray | None
    metrics: dict[str, np.ndarray]  # name -> (ny, nx) or (nx,), float64; NaN where not done
    done: np.ndarray  # bool, same shape
    recipe: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)  # timings, stats, sample indices' seeds ...
    dir_file: str | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. samples_train: the sample indices
    reference: bool = False  # read from a file written by the reference code
    trajectory: Trajectory | None = None  # the optimizer's path projected onto the plane (PCA directions)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.done.shape

    @property
    def is_complete(self) -> bool:
        return bool(self.done.all())


@contextlib.contextmanager
def new_h5(path: str | Path) -> Iterator[h5py.File]:
    """An HDF5 file for the block to fill, written to ``path`` atomically when it ends. It is built in memory
    and its bytes written by Python: a disk that fails (full, I/O error) fails that write with its plain
    ``OSError``, never inside the HDF5 library, which leaves its objects half-closed when a write fails
    ("Exception ignored in ObjectID.__dealloc__" at every collection after, a crash at exit once)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        yield f
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def write_surface(path: str | Path, surface: Surface) -> None:
    """Write ``surface`` to ``path`` atomically."""
    with new_h5(path) as f:
        f.attrs["format"] = FORMAT
        f.attrs["recipe"] = json.dumps(surface.recipe, sort_keys=True)
        for key, value in surface.attrs.items():
            f.attrs[key] = json.dumps(value) if isinstance(value, (dict, list)) else _plain(value)
        f.create_dataset("xcoordinates", data=surface.xcoordinates)
        if surface.ycoordinates is not None:
            f.create_dataset("ycoordinates", data=surface.ycoordinates)
        for name, values in surface.metrics.items():
            f.create_dataset(name, data=np.asarray(values, dtype=np.float64))
        f.create_dataset("done", data=surface.done.astype(np.uint8))
        for name, values in surface.arrays.items():
            f.create_dataset(name, data=values)
        if surface.dir_file is not None:
            f["dir_file"] = surface.dir_file
        if surface.trajectory is not None:
            _write_trajectory(f.create_group("trajectory"), surface.trajectory)


def _write_trajectory(group: h5py.Group, t: Trajectory) -> None:
    group.attrs["attrs"] = json.dumps(t.attrs, sort_keys=True)
    group.create_dataset("label", data=np.array(t.labels, dtype=object), dtype=h5py.string_dtype())
    group.create_dataset("epoch", data=np.asarray(t.epochs, dtype=np.int64))
    group.create_dataset("x", data=np.asarray(t.x, dtype=np.float64))
    group.create_dataset("y", data=np.asarray(t.y, dtype=np.float64))
    for name, values in t.metrics.items():
        group.create_dataset(name, data=np.asarray(values, dtype=np.float64))


def _read_trajectory(group: h5py.Group) -> Trajectory:
    metrics = {k: np.asarray(group[k][()], dtype=np.float64) for k in group if k not in ("label", "epoch", "x", "y")}
    return Trajectory(
        [_decode(v) for v in group["label"][()]],
        np.asarray(group["epoch"][()], dtype=np.int64),
        np.asarray(group["x"][()], dtype=np.float64),
        np.asarray(group["y"][()], dtype=np.float64),
        metrics,
        json.loads(group.attrs["attrs"]) if "attrs" in group.attrs else {},
    )


def _plain(value: Any) -> Any:
    """str subclasses (torch.__version__) as plain str, which h5py stores as a string attribute."""
    return str(value) if isinstance(value, str) else value


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first bytes of an HDF5 file


class DamagedFile(ValueError):
    """An HDF5 file that cannot be opened though it starts as one: a copy or a download cut short. What
    fixes it depends on where it came from, which its reader's caller says."""


def open_h5(path: Path, what: str = "") -> h5py.File:
    """``path`` opened for reading; ``ValueError`` naming it (``what``: "direction file " ...) when it
    is not an HDF5 file (:class:`DamagedFile` for one cut short), rather than h5py's OSError."""
    try:
        return h5py.File(path, "r")
    except OSError as e:
        with contextlib.suppress(OSError), path.open("rb") as f:
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                raise DamagedFile(
                    f"{what}{path.name} is truncated or damaged: it starts as an HDF5 file but cannot be opened ({e})"
                ) from None
        raise ValueError(f"{what}{path.name} is not an HDF5 file ({e})") from None


def _dir_file(f: h5py.File) -> str | None:
    return _decode(f["dir_file"][()]) if "dir_file" in f else None


def read_dir_file(path: str | Path) -> str | None:
    """The direction file a surface file names (its ``dir_file``; None when it names none), read alone:
    none of the surface's values are."""
    with open_h5(Path(path)) as f:
        return _dir_file(f)


def read_surface(path: str | Path) -> Surface:
    """Read a surface file written by lossatlas or by the reference code.

    Raises ``ValueError`` with the reason when the file is not a usable surface file.
    """
    path = Path(path)
    with open_h5(path) as f:
        if "xcoordinates" not in f and "xdirection" in f:
            raise ValueError(f"{path.name} is a direction file, not a surface file; give the surface computed with it")
        if "xcoordinates" not in f:
            raise ValueError(f"{path.name} has no 'xcoordinates' dataset: not a loss surface file")
        x = np.asarray(f["xcoordinates"][()], dtype=np.float64).reshape(-1)
        y = np.asarray(f["ycoordinates"][()], dtype=np.float64).reshape(-1) if "ycoordinates" in f else None
        shape = (x.size,) if y is None else (y.size, x.size)
        names = [k for k in f if k in METRICS or k.endswith(("_loss", "_acc"))]
        if not names:
            raise ValueError(f"{path.name} holds no metric (train_loss, test_acc, ...)")
        reference = "done" not in f
        metrics = {}
        for name in names:
            values = np.asarray(f[name][()], dtype=np.float64)
            if values.size != int(np.prod(shape)):
                raise ValueError(f"{path.name}: {name} has {values.size} values for a grid of {shape}")
            metrics[name] = values.reshape(shape)  # undoes the reference's scrambled non-square layout
        if reference:  # a metric's pending points are its own: a loss can be done where max_eig is not
            pending = {k: v == _REFERENCE_PENDING.get(k, -1.0) for k, v in metrics.items()}
            if "min_eig" in pending and "max_eig" in pending:
                pending["min_eig"] = pending["max_eig"]  # the script writes both at once; +1 is a value too
            done = ~np.any(list(pending.values()), axis=0)
        else:
            done = np.asarray(f["done"][()]).astype(bool).reshape(shape)
            pending = {k: ~done for k in metrics}
        for name, values in metrics.items():
            values[pending[name]] = np.nan
        recipe = json.loads(f.attrs["recipe"]) if "recipe" in f.attrs else {}
        attrs = {k: _decode(v) for k, v in f.attrs.items() if k not in ("recipe", "format")}
        for k, v in list(attrs.items()):
            if isinstance(v, str) and v[:1] in "[{":
                with contextlib.suppress(json.JSONDecodeError):
                    attrs[k] = json.loads(v)
        dir_file = _dir_file(f)
        arrays = {k: np.asarray(f[k][()]) for k in f if k.startswith("samples_")}
        trajectory = _read_trajectory(f["trajectory"]) if isinstance(f.get("trajectory"), h5py.Group) else None
    return Surface(x, y, metrics, done, recipe, attrs, dir_file, arrays, reference, trajectory)


def directions_digest(directions: list[Direction]) -> str:
    """sha256 of the directions' float32 values: the same directions, however stored, give the same digest."""
    h = hashlib.sha256()
    for direction in directions:
        for d in direction:
            h.update(d.detach().cpu().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def write_directions(
    path: str | Path,
    names: list[str],
    directions: list[Direction],
    attrs: dict | None = None,
    datasets: dict[str, np.ndarray] | None = None,
) -> None:
    """Write directions in the reference layout (``xdirection``/``ydirection``, datasets "0".."N-1"),
    with the weight names as an attribute of each group; ``datasets`` go to the root (the reference's
    PCA statistics). Atomic."""
    with new_h5(path) as f:
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        for key, value in (datasets or {}).items():
            f.create_dataset(key, data=value)
        for group_name, direction in zip(("xdirection", "ydirection"), directions):
            group = f.create_group(group_name)
            group.attrs["names"] = json.dumps(names)
            for i, d in enumerate(direction):
                group.create_dataset(str(i), data=d.detach().cpu().float().numpy())


def read_directions(path: str | Path, names: list[str], shapes: list[tuple[int, ...]]) -> list[Direction]:
    """Read the directions of ``path`` and check them against a model's weight names and shapes.

    Files of the reference code carry no names: then count and shapes are checked. A mismatch raises
    ``ValueError`` naming the first weight that differs.
    """
    path = Path(path)
    out = []
    with open_h5(path, "direction file ") as f:
        if "xdirection" not in f and "xcoordinates" in f:  # a surface file given for its directions
            beside = _dir_file(f)
            raise ValueError(
                f"{path.name} is a surface file, not a direction file; "
                + (f"its directions are in {beside} beside it" if beside else "give the file of its directions")
            )
        if "xdirection" not in f:
            raise ValueError(f"direction file {path.name} has no 'xdirection' group")
        for group_name in ("xdirection", "ydirection"):
            if group_name not in f:
                continue
            group = f[group_name]
            stored = json.loads(group.attrs["names"]) if "names" in group.attrs else None
            if stored is not None and stored != names:
                i = next((i for i, (a, b) in enumerate(zip(stored, names)) if a != b), min(len(stored), len(names)))
                a = stored[i] if i < len(stored) else "(nothing)"
                b = names[i] if i < len(names) else "(nothing)"
                raise ValueError(
                    f"direction file {path.name} does not match the model: weight {i} is {a!r} in the file "
                    f"but {b!r} in the model ({len(stored)} vs {len(names)} weights)"
                )
            if len(group) != len(names):
                raise ValueError(
                    f"direction file {path.name} has {len(group)} tensors in {group_name}, the model has {len(names)} weights"
                )
            direction = []
            for i, (name, shape) in enumerate(zip(names, shapes)):
                if str(i) not in group:
                    raise ValueError(f"direction file {path.name}: {group_name} lacks tensor {i} ({name!r})")
                d = torch.from_numpy(np.asarray(group[str(i)][()], dtype=np.float32))
                if tuple(d.shape) != tuple(shape):
                    raise ValueError(
                        f"direction file {path.name} does not match the model: {name!r} (tensor {i}) has shape "
                        f"{tuple(d.shape)} in the file, {tuple(shape)} in the model"
                    )
                direction.append(d)
            out.append(direction)
    return out
