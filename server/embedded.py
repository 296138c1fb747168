"""The worker process that ``lossatlas serve`` runs beside the API (a process, not a thread: a crash or
an out-of-memory kill of a computation cannot take the API down)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from .settings import Settings

log = logging.getLogger("lossatlas.server")


def start_worker(settings: Settings) -> subprocess.Popen:
    """Start ``python -m workers.jobloop`` on the settings' data directory; it exits with this process."""
    cmd = [
        sys.executable,
        "-m",
        "workers.jobloop",
        "--data-dir",
        str(settings.data_dir),
        "--lease",
        str(settings.lease_s),
        "--poll",
        str(settings.poll_s),
        "--device",
        settings.device,
        "--parent-pid",
        str(os.getpid()),
    ]
    cmd += ["--retry-backoff", str(settings.retry_backoff_s)]
    if settings.worker_threads:
        cmd += ["--threads", str(settings.worker_threads)]
    if settings.ray_address:
        cmd += ["--ray", settings.ray_address]
    proc = subprocess.Popen(cmd)
    log.info("embedded worker started (pid %d)", proc.pid)
    return proc


def stop_worker(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM: the worker finishes its current point and gives its job back to the queue."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
