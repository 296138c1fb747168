"""Surface-file writes of a queued job, fenced by its lease, retried when the disk fails.

A worker that stalled past its lease (SIGSTOP, swap, a frozen VM) may wake up after another worker has
taken its job over, even finished it, and still hold an older, partial surface in memory. Its writes
must not land: each one is written beside the file, then renamed over it only inside
:meth:`JobQueue.fenced` (the claim is checked while the job's fence keeps anyone from claiming the job
meanwhile), and only when the file on disk holds no finished point that the new version lacks:
a surface file never moves backwards in points.

A write that fails on the disk (full, read-only, I/O error) is retried with backoff, the temporary file's
and the fenced replacement's (the lease renewed in the queue's database, then the rename) alike; after
``WRITE_RETRIES`` the error is raised with what failed, and the worker marks the job failed with it.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import h5py
import numpy as np

from .files import tmp_path
from .h5io import Surface, write_surface
from .jobqueue import Job, JobQueue, LeaseLost

log = logging.getLogger("lossatlas.worker")

WRITE_RETRIES = 4  # attempts after the first; backoff 1, 2, 4, 8 s (scaled by ``backoff_s``)
FULL_BYTES = 2**20  # less free space than this: a failed database write is put down to a full disk


STORAGE_ERRORS = (OSError, sqlite3.OperationalError)  # disk full, read-only, database locked too long ...


class StorageError(OSError):
    """A write that kept failing after its retries."""


class BackwardsWrite(LeaseLost):
    """The file on disk holds finished points that the version being written lacks."""


def done_on_disk(path: Path) -> np.ndarray | None:
    """The ``done`` mask of a surface file, or None when there is no readable one."""
    try:
        with h5py.File(path, "r") as f:
            return np.asarray(f["done"][()]).astype(bool) if "done" in f else None
    except (OSError, KeyError):
        return None


def storage_reason(error: Exception, where: Path | None = None) -> str:
    """``No space left on device`` rather than h5py's many-line report around it, or SQLite's "disk I/O
    error" when the disk at ``where`` is full (SQLite does not say why a write failed)."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    found = re.search(r"errno = (\d+)", str(error))
    reason = os.strerror(int(found.group(1))) if found else str(error).split("\n")[0]
    if isinstance(error, sqlite3.Error) and where is not None:
        try:
            full = shutil.disk_usage(where).free < FULL_BYTES
        except OSError:
            full = False
        if full:
            return f"{os.strerror(errno.ENOSPC)} (the job queue's database: {reason})"
    return reason


def retry_io(
    action, what: str, retries: int = WRITE_RETRIES, backoff_s: float = 1.0, stop=None, where: Path | None = None
):
    """Run ``action()``; on a storage error wait (1, 2, 4 ... x ``backoff_s``) and try again, ``retries``
    times, then raise :class:`StorageError` saying what failed. ``stop``: a callable that ends the
    waiting early; ``where``: the directory written to (to tell a full disk behind a database error)."""
    attempt = 0
    while True:
        try:
            return action()
        except STORAGE_ERRORS as e:
            reason = storage_reason(e, where)
            if attempt == retries or (stop is not None and stop()):
                raise StorageError(f"{what} failed {attempt + 1} times: {reason}") from e
            delay = backoff_s * 2**attempt
            log.warning("%s failed (%s); retrying in %.1f s", what, reason, delay)
            time.sleep(delay)
            attempt += 1


class FencedWriter:
    """``write(out, surface)`` for :func:`workers.compute_surface` under a job's claim."""

    def __init__(self, queue: JobQueue, claim: Job, lease_s: float, backoff_s: float = 1.0, stop=None):
        self.queue, self.claim, self.lease_s, self.backoff_s, self.stop = queue, claim, lease_s, backoff_s, stop

    def __call__(self, out: Path, surface: Surface) -> None:
        out = Path(out)
        tmp = tmp_path(out)
        try:
            retry_io(
                lambda: write_surface(tmp, surface), f"writing {out.name}", backoff_s=self.backoff_s, stop=self.stop
            )

            def replace() -> None:  # its lease renewed in the database, which a disk filled meanwhile refuses
                with self.queue.fenced(self.claim, self.lease_s):
                    on_disk = done_on_disk(out)
                    if on_disk is not None and on_disk.shape == surface.done.shape and (on_disk & ~surface.done).any():
                        missing = int((on_disk & ~surface.done).sum())
                        raise BackwardsWrite(
                            f"{out.name} holds {int(on_disk.sum())} finished points, {missing} of them missing "
                            f"from this worker's {int(surface.done.sum())}: not overwriting it"
                        )
                    os.replace(tmp, out)

            # retried as the write is (LeaseLost and BackwardsWrite are no storage error: they end the job's run)
            retry_io(replace, f"replacing {out.name}", backoff_s=self.backoff_s, stop=self.stop, where=self.queue.root)
        finally:
            tmp.unlink(missing_ok=True)
