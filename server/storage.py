"""The data directory's health: free space reported in /api/config, a job refused (507) while the disk
is nearly full, and a full or failing disk answered as 507/503 naming the problem instead of a 500."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from .settings import Settings

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def free_mb(path: Path) -> float | None:
    """Free space under ``path`` (its nearest existing parent) in MiB; None when it cannot be read."""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free / 2**20
    except OSError:
        return None


def low_space(settings: Settings) -> str | None:
    """A warning when the data directory has less than ``min_free_mb`` free."""
    free = free_mb(settings.data_dir)
    if free is not None and free < settings.min_free_mb:
        return (
            f"the data directory has {free:.1f} MiB free, less than min_free_mb={settings.min_free_mb}: "
            "jobs cannot write their surfaces; free some space"
        )
    return None


def refuse_when_full(settings: Settings) -> None:
    warning = low_space(settings)
    if warning is not None:
        raise HTTPException(507, warning)


def is_full(error: Exception) -> bool:
    if isinstance(error, OSError):
        return error.errno in FULL_ERRNOS
    return "full" in str(error)  # sqlite3: "database or disk is full"


async def storage_error(request: Request, error: Exception) -> JSONResponse:
    """Exception handler for OSError and sqlite3.OperationalError escaping a route."""
    reason = getattr(error, "strerror", None) or str(error).split("\n")[0]
    if is_full(error):
        return JSONResponse(
            {"detail": f"the server's data directory is full ({reason}); free some space"}, status_code=507
        )
    return JSONResponse(
        {"detail": f"the server cannot use its data directory now ({reason}); try again later"},
        status_code=503,
        headers={"Retry-After": "10"},
    )


STORAGE_ERRORS = (OSError, sqlite3.OperationalError)
