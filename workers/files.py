"""Atomic file replacement: write beside the target, then rename over it, so that a reader never sees a
half-written file and a killed writer leaves the previous complete version (and a temporary file that
:func:`remove_stale_tmp` can clear). Lock files (``flock``: a lock dies with its process), and the one
that keeps two runs from writing one output. And a file's digest."""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
import threading
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


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (it may have been removed or replaced)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


@contextmanager
def locked(path: Path, wait: bool) -> Iterator[int | None]:
    """Hold an exclusive ``flock`` on the lock file ``path`` (created if need be) while the body runs; yields
    its file descriptor, or None (and holds nothing) when another process holds it and ``wait`` is False.
    The lock goes with the file descriptor: a process that dies releases it. A lock taken on a file that
    its holder removed meanwhile (lock files are removed under their lock when done with) locks nobody out,
    so it is let go and the file now at the path is locked instead."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield None
            return
        if _same_file(fd, path):
            break
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)


class OutputBusy(ValueError):
    """Another run is writing the output file."""


_writing = threading.local()  # .paths: the outputs this thread holds (a trajectory's run holds its surface's)


def _lock_path(out: Path) -> Path:
    """``dir/.name.lock``: the lock file of the output ``dir/name`` while a run writes it."""
    return out.with_name(f".{out.name}.lock")


def _program() -> str:
    """The running program as its user knows it, for a lock file's holder: ``lossatlas`` for the entry point
    and for ``python -m server.cli`` / ``python -m workers.cli`` (whose ``sys.argv[0]`` is the module's file,
    ``cli.py``); another program's file name; ``python`` for an interactive session."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name in ("server.cli", "workers.cli"):
        return "lossatlas"
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"


@contextmanager
def writing(out: str | Path | None) -> Iterator[None]:
    """Hold ``out``'s lock file while the body runs (a run that writes ``out``: a surface file and its
    direction file, or a training run's directory);
    raises :class:`OutputBusy`, naming the process that holds it, when another run writes ``out``. Taken
    again by the thread that holds it, it does nothing. The lock file is removed at the end; one left by a
    killed run holds nobody up. A server's surface file (``surfaces/`` beside a ``jobs.sqlite3``) is
    refused: its jobs write it, fenced by their leases."""
    if out is None:
        yield
        return
    out = Path(out)
    resolved = out.resolve()
    held = _writing.__dict__.setdefault("paths", set())
    key = str(resolved)
    if key in held:
        yield
        return
    data_dir = resolved.parent.parent
    if resolved.parent.name == "surfaces" and (data_dir / "jobs.sqlite3").exists():
        raise OutputBusy(
            f"{out} is a file of the lossatlas server whose data directory is {data_dir}: its "
            "jobs write there; submit the computation to the server or choose another output file"
        )
    path = _lock_path(out)
    with locked(path, wait=False) as fd:
        if fd is None:
            try:
                holder = path.read_text().strip()
            except OSError:
                holder = ""
            by = f"process {holder}" if holder else "another process"
            kind = "directory" if out.is_dir() else "file"
            raise OutputBusy(f"{out} is being written by {by}; wait for it to end or choose another output {kind}")
        os.ftruncate(fd, 0)
        command = " ".join([_program(), *sys.argv[1:2]])
        os.write(fd, f"{os.getpid()} ({command})\n".encode())
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            path.unlink(missing_ok=True)  # under the lock: a run waiting on this file sees it was removed


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


def existing_file(path: str | Path, named: str) -> Path:
    """``path``, a file to read, which the refusals call ``named`` (``--checkpoint a.pt``): one that does not
    exist, or is a directory (a run's, the data's), is refused in one line (an ``OSError``)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{named} is a directory; give a file in it, not the directory")
    if not path.is_file():
        raise FileNotFoundError(f"{named} does not exist")
    return path


def unreadable_reason(error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` or ``numpy.load`` could not read a file, in a few words (their
    messages run to paragraphs)."""
    if "Weights only load failed" in str(error):
        return "it holds pickled objects, not only tensors"
    return f"{type(error).__name__}: {error}".split("\n")[0][:120]
