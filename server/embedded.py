"""The worker process that ``lossatlas serve`` runs beside the API (a process, not a thread: a crash or
an out-of-memory kill of a computation cannot take the API down), started again when it dies.

The worker runs in a session of its own, so a Ctrl-C on the terminal reaches the server alone, which
stops the worker when it shuts down, and passes on a second Ctrl-C: each signal once, as the worker counts
them (the first: stop after the point it computes; the second: at once)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from workers import handled_by, stop_signals

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
    proc = subprocess.Popen(cmd, start_new_session=True)  # the terminal's Ctrl-C: see the module's docstring
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


@contextmanager
def _passed_on(proc: subprocess.Popen) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM to this process (less one it ignores) are sent on to ``proc``
    as SIGTERM (a handler can only be set in the main thread: elsewhere, as under a test's server thread,
    nothing is)."""

    def pass_on(signum: int, frame: object) -> None:
        if proc.poll() is None:
            proc.terminate()

    with handled_by(pass_on, stop_signals()):
        yield


def stop_worker(proc: subprocess.Popen, timeout: float = 30.0, at_once_s: float = 10.0) -> None:
    """SIGTERM: the worker finishes its current point and gives its job back to the queue. A Ctrl-C or
    SIGTERM to the server meanwhile is passed on, and stops the worker at once (its job goes back too); so
    does a second SIGTERM after ``timeout``, and SIGKILL ``at_once_s`` after that."""
    if proc.poll() is not None:
        return
    with _passed_on(proc):  # from before the first SIGTERM: no Ctrl-C after it goes unseen
        proc.terminate()
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            log.warning("embedded worker (pid %d) still running after %.0f s; stopping it at once", proc.pid, timeout)
            proc.terminate()
        try:
            proc.wait(at_once_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
