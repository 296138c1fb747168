"""Is an uploaded HDF5 file safe to read? Checked in a child process with a time limit
(``python -m server.h5guard FILE MAX_BYTES MAX_POINTS`` prints ``{"error": null or "why"}``), before the
server reads anything of it.

A hostile file can make a naive reader walk forever (hard links forming a DAG with 2^39 paths, or a
cycle), inflate a few MB into GiB (a gzip bomb, or a declared 10^9 x 10^9 dataset), or hold types the
surface reader does not expect (compound, references, opaque). So the walk visits objects, each once
(by address), and stops after ``MAX_OBJECTS``; every dataset's and attribute's uncompressed size is
computed from its declared shape and type and bounded *before* it is read; only numbers, booleans and
strings are allowed; links to other files, soft links, external storage and virtual datasets are refused
(they would read files of the server's own disk into a surface). Then every value is read once here, so
corrupt chunks fail in this process, not in the server.

Only h5py and numpy are imported: the check starts in well under a second.
"""

from __future__ import annotations

import json
import sys

import h5py
import numpy as np

MAX_OBJECTS = 256  # a surface file has about ten
MAX_LINKS = 1024
MAX_ATTRS = 64  # per object
MAX_NDIM = 2
VLEN_ITEM_BYTES = 64  # counted per variable-length string: their text lies uncompressed in the file itself


class Refused(ValueError):
    pass


def _item_bytes(dtype: np.dtype, where: str) -> int:
    if h5py.check_string_dtype(dtype) is not None:
        return dtype.itemsize if dtype.kind == "S" else VLEN_ITEM_BYTES
    if dtype.kind in "fiub" and dtype.itemsize <= 8:
        return dtype.itemsize
    raise Refused(f"{where} has the data type {dtype}; a surface file holds only numbers, booleans and strings")


def _declared_bytes(shape: tuple[int, ...] | None, dtype: np.dtype, where: str) -> int:
    if shape is None:  # an empty (null) dataspace
        return 0
    if len(shape) > MAX_NDIM:
        raise Refused(f"{where} has {len(shape)} dimensions; a surface file's arrays have at most {MAX_NDIM}")
    return int(np.prod([int(n) for n in shape], dtype=object)) * _item_bytes(dtype, where)


class Budget:
    """Uncompressed bytes declared so far, against the limit."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.used = max_bytes, 0

    def take(self, n: int, where: str) -> None:
        self.used += n
        if self.used > self.max_bytes:
            raise Refused(
                f"{where} makes the file's data {self.used / 2**20:.1f} MiB uncompressed, more than the server's "
                f"limit of {self.max_bytes / 2**20:.0f} MiB (max_upload_mb)"
            )


def _check_attrs(obj: h5py.HLObject, where: str, budget: Budget) -> None:
    attrs = obj.attrs
    if len(attrs) > MAX_ATTRS:
        raise Refused(f"{where} has {len(attrs)} attributes, more than {MAX_ATTRS}")
    for name in attrs:
        aid = h5py.h5a.open(obj.id, name.encode())
        budget.take(_declared_bytes(aid.shape, aid.dtype, f"attribute {where}@{name}"), f"attribute {where}@{name}")


def _check_dataset(ds: h5py.Dataset, where: str, budget: Budget) -> None:
    if ds.is_virtual or ds.id.get_create_plist().get_external_count() > 0:
        raise Refused(f"the file is not self-contained: {where} keeps its data outside the file")
    budget.take(_declared_bytes(ds.shape, ds.dtype, where), where)


def _walk(f: h5py.File, budget: Budget) -> list[tuple[str, h5py.HLObject]]:
    """Every object once, checked; returns them with one path each."""
    seen: set[int] = {h5py.h5o.get_info(f.id).addr}
    objects: list[tuple[str, h5py.HLObject]] = [("/", f)]
    stack: list[tuple[str, h5py.Group]] = [("", f)]
    links = 0
    _check_attrs(f, "/", budget)
    while stack:
        prefix, group = stack.pop()
        for name in group:
            links += 1
            if links > MAX_LINKS:
                raise Refused(f"the file has more than {MAX_LINKS} links; a surface file has a few")
            where = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                raise Refused(f"the file is not self-contained: {where} is a link ({type(link).__name__})")
            obj = group[name]
            addr = h5py.h5o.get_info(obj.id).addr
            if addr in seen:  # reached again through another hard link: visited already
                continue
            seen.add(addr)
            if len(seen) > MAX_OBJECTS:
                raise Refused(f"the file has more than {MAX_OBJECTS} objects; a surface file has about ten")
            _check_attrs(obj, where, budget)
            if isinstance(obj, h5py.Group):
                stack.append((where, obj))
            elif isinstance(obj, h5py.Dataset):
                _check_dataset(obj, where, budget)
            else:
                raise Refused(f"{where} is a {type(obj).__name__}; a surface file holds only groups and datasets")
            objects.append((where, obj))
    return objects


def _grid_points(f: h5py.File) -> int:
    points = 1
    for name in ("xcoordinates", "ycoordinates"):
        if name in f and isinstance(f[name], h5py.Dataset):
            points *= max(1, int(np.prod(f[name].shape or (1,), dtype=object)))
    return points


def check(path: str, max_bytes: int, max_points: int) -> None:
    """Raise :class:`Refused` (a ValueError) saying why the file must not be read."""
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise Refused("not a loss surface file: the file is not an HDF5 file") from None
    with f:
        objects = _walk(f, Budget(max_bytes))
        points = _grid_points(f)
        if points > max_points:
            raise Refused(f"the grid has {points} points, more than the server's limit max_import_points={max_points}")
        for where, obj in objects:  # read everything once: corrupt chunks fail here
            try:
                for name in obj.attrs:
                    obj.attrs[name]
                if isinstance(obj, h5py.Dataset):
                    obj[()]
            except (OSError, ValueError, TypeError, KeyError) as e:
                raise Refused(
                    f"{where} cannot be read: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                ) from None


def main(argv: list[str]) -> int:
    path, max_bytes, max_points = argv[0], int(argv[1]), int(argv[2])
    try:
        check(path, max_bytes, max_points)
        error = None
    except Refused as e:
        error = str(e)
    except Exception as e:  # h5py raises many kinds on broken files
        error = f"the file cannot be read as HDF5 ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    print(json.dumps({"error": error}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
