"""Importing an uploaded surface file: made safe to read, validated fully, then kept; or refused with a
400 that names the problem, leaving nothing behind.

1. :mod:`server.h5guard` in a child process with a time limit (``import_timeout_s``): structure, sizes,
   types and every value read once. The request waits without holding a thread; a file that takes too
   long is refused and its checker killed. At most ``IMPORTS_AT_ONCE`` imports run; more get 503.
2. In a worker thread: the surface read as the catalog will read it, coordinates and values checked
   finite, the recipe's shape checked, the summary and the mesh built as they will be served.
3. Only then is the file moved into the user surfaces.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from workers import JobQueue, Surface, one_line, read_surface, sha256_file

from .catalog import Catalog, Entry, import_ids
from .echo import echo
from .mesh import summarize, to_mesh
from .schemas import SurfaceSummary, plain_title
from .settings import Settings

IMPORTS_AT_ONCE = 2
_STRINGS = ("model", "dataset", "split", "loss")
_DIRECTION_STRINGS = ("kind", "norm", "ignore", "dir_type")


class ImportGate:
    """How many imports run at once (one per app)."""

    def __init__(self, size: int = IMPORTS_AT_ONCE):
        self.free = size

    def __enter__(self) -> None:
        if self.free <= 0:
            raise HTTPException(
                503,
                f"{IMPORTS_AT_ONCE} imports are being checked; try again in a few seconds",
                headers={"Retry-After": "5"},
            )
        self.free -= 1  # the event loop's thread only: no lock needed

    def __exit__(self, *exc) -> None:
        self.free += 1


async def guard(path: Path, settings: Settings) -> None:
    """Run :mod:`server.h5guard` on ``path`` in a child process; HTTP 400 with its reason when refused."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.h5guard",
        str(path),
        str(settings.max_upload_mb * 2**20),
        str(settings.max_import_points),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), settings.import_timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise HTTPException(
            400,
            f"the file took more than import_timeout_s={settings.import_timeout_s:g} s to "
            "check; a surface file is read in well under a second",
        ) from None
    try:
        error = json.loads(out.decode().strip().splitlines()[-1])["error"]
    except (ValueError, IndexError, KeyError):
        error = f"the HDF5 library failed on the file (checker exit status {proc.returncode})"
    if error is not None:
        raise HTTPException(400, error)


def _finite_json(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}; values must be finite numbers")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_json(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite_json(v, f"{where}[{i}]")


def _shown(value: str | None, where: str) -> None:
    """A recipe's text that the catalog shows other users reads as what it is (:func:`server.schemas.plain_title`)."""
    if value is not None:
        try:
            plain_title(value)
        except ValueError as e:
            raise ValueError(f"{where} {e}") from None


def check_recipe(recipe: Any) -> None:
    """The recipe's shape as the catalog reads it (ValueError naming the first problem)."""
    if not isinstance(recipe, dict):
        raise ValueError(f"the recipe must be a JSON object, not {type(recipe).__name__}")
    _finite_json(recipe, "recipe")
    spec = recipe.get("spec", {})
    if not isinstance(spec, dict):
        raise ValueError(f"recipe.spec must be an object, not {type(spec).__name__}")
    for key in _STRINGS:
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise ValueError(f"recipe.spec.{key} must be a string, not {echo(repr(spec[key]))}")
        _shown(spec.get(key), f"recipe.spec.{key}")
    if spec.get("samples") is not None and (not isinstance(spec["samples"], int) or isinstance(spec["samples"], bool)):
        raise ValueError(f"recipe.spec.samples must be an integer or null, not {echo(repr(spec['samples']))}")
    directions = spec.get("directions")
    if directions:
        if not isinstance(directions, dict):
            raise ValueError("recipe.spec.directions must be an object")
        for key in _DIRECTION_STRINGS:
            if not isinstance(directions.get(key), str):
                raise ValueError(f"recipe.spec.directions.{key} must be a string (the file lacks it or it is not text)")
            _shown(directions[key], f"recipe.spec.directions.{key}")
        if not isinstance(directions.get("seed"), int):
            raise ValueError("recipe.spec.directions.seed must be an integer")


def check_surface(surface: Surface) -> None:
    """Coordinates and attributes finite, the recipe well formed (ValueError naming the problem)."""
    for name, coords in (("xcoordinates", surface.xcoordinates), ("ycoordinates", surface.ycoordinates)):
        if coords is not None and not all(math.isfinite(v) for v in coords.tolist()):
            raise ValueError(f"{name} holds NaN or infinite values; coordinates must be finite")
    check_recipe(surface.recipe)
    _finite_json(surface.attrs, "attribute")


def _validated(tmp: Path, stem: str) -> tuple[Surface, str, str]:
    """The surface, its id and its file's sha256."""
    try:
        surface = read_surface(tmp)
        check_surface(surface)
        sha = sha256_file(tmp)
        sid = import_ids(stem, sha)[0]  # as the summary is checked; kept under another when taken (keep)
        summary = summarize(surface, sid, "user", stem, surface.recipe.get("spec", {}).get("dataset"))
        json.dumps(to_mesh(surface, summary), allow_nan=False)  # served as strict JSON
    except ValidationError as e:
        raise HTTPException(400, f"not a loss surface file: {one_line(e)}") from None
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise HTTPException(400, f"not a loss surface file: {str(e).replace(tmp.name, 'the file')}") from None
    return surface, sid, sha


async def import_surface(
    tmp: Path, stem: str, catalog: Catalog, queue: JobQueue, settings: Settings, gate: ImportGate
) -> tuple[SurfaceSummary, bool]:
    """Check, validate and keep an uploaded file (the caller deletes ``tmp`` afterwards in every case).
    Returns its summary and whether it was added: a file of the same content imported before (under any
    name) is that surface, kept as it was (its name too), as the same checkpoint uploaded again is."""
    with gate:
        await guard(tmp, settings)
        surface, sid, sha = await run_in_threadpool(_validated, tmp, stem)

    def keep() -> tuple[Entry, bool]:
        copy = catalog.imported_copy(sha)
        if copy is not None:
            with queue.surface_lock(copy.id):  # not deleted while it is answered
                if copy.path.is_file():
                    return copy, False
        with queue.surface_lock(sid):  # as a deletion does: the two come one wholly after the other
            for free in import_ids(stem, sha):  # another file's id is never taken over
                held = catalog.user_dir / f"{free}.h5"
                if not held.exists() or sha256_file(held) == sha:  # free, or this file imported meanwhile
                    break
            return catalog.add(tmp, free, stem, surface.recipe.get("spec", {}).get("dataset")), True

    entry, added = await run_in_threadpool(keep)
    return await run_in_threadpool(catalog.summary, entry), added
