"""Atomic file replacement: write beside the target, then rename over it, so that a reader never sees a
half-written file and a killed writer leaves the previous complete version (and a temporary file that
:func:`remove_stale_tmp` can clear). And a file's digest."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def tmp_path(path: Path, suffix: str = ".tmp") -> Path:
    """``dir/.name.<pid>.tmp``: hidden, unique per process, recognisable as a leftover of ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}{suffix}")


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    tmp = tmp_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_tmp(path: str | Path) -> None:
    """Delete temporary files that killed writers of ``path`` left behind (their process is gone)."""
    path = Path(path)
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's
            pass


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unreadable_reason(error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` or ``numpy.load`` could not read a file, in a few words (their
    messages run to paragraphs)."""
    if "Weights only load failed" in str(error):
        return "it holds pickled objects, not only tensors"
    return f"{type(error).__name__}: {error}".split("\n")[0][:120]
