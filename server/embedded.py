"""The worker process that ``lossatlas serve`` runs beside the API (a process, not a thread: a crash or
an out-of-memory kill of a computation cannot take the API down), started again when it dies."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time

from .settings import Settings

log = logging.getLogger("lossatlas.server")

MAX_RESTART_WAIT_S = 60.0


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


async def keep_worker(settings: Settings, holder: list[subprocess.Popen], every_s: float = 1.0) -> None:
    """Start ``holder[0]`` again when it dies (killed for memory, crashed: a non-zero exit), or queued
    jobs would wait for a worker that is gone; its job's lease runs out and the new worker resumes it. A
    worker that keeps dying young is restarted after a doubling wait, up to a minute. Runs until
    cancelled; a worker that exited cleanly (0: stopped by a signal) is left stopped."""
    wait, started = every_s, time.monotonic()
    while True:
        await asyncio.sleep(every_s)
        code = holder[0].poll()
        if code is None or code == 0:
            continue
        lived = time.monotonic() - started
        wait = every_s if lived > MAX_RESTART_WAIT_S else min(wait * 2, MAX_RESTART_WAIT_S)
        log.error("embedded worker (pid %d) exited with code %d; starting another in %.0f s", holder[0].pid, code, wait)
        await asyncio.sleep(wait)
        holder[0], started = start_worker(settings), time.monotonic()


def stop_worker(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM: the worker finishes its current point and gives its job back to the queue."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
