"""The worker loop: claim a surface job from the queue, compute it, report progress, repeat.

While a job runs, a heartbeat thread renews the job's lease; every finished point is recorded with its
values (the server streams them). The engine writes the surface file after every point and resumes a
partial one, so a job taken over from a dead worker continues where that worker stopped. A job that is
cancelled, or taken over because this worker stalled past its lease, stops at the next point. On
SIGTERM/SIGINT the worker says what it is doing, stops after the point it is computing and gives its job
back to the queue; a second one stops it at once (:class:`StopNow`: the point it was computing is lost, the
job goes back to the queue all the same, and its file, replaced whole after each point, keeps the others).
A StopNow that Python dropped (:mod:`workers.interrupts`) is raised again at the job's next check.

Writes are fenced by the job's lease (:mod:`workers.fencing`): a worker that wakes up after its job was
taken over cannot overwrite its successor's file. A failing disk or database (full, read-only) does not
kill the worker: writes are retried with backoff, the job is failed with the reason after a bound, and
the loop waits and carries on.

Run one with ``lossatlas worker`` or ``python -m workers.jobloop --data-dir DIR``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .data import DataNotFound
from .fencing import STORAGE_ERRORS, FencedWriter, retry_io
from .h5io import read_surface
from .interrupts import dropped_unreported, handled_by, stop_signals
from .jobqueue import Job, JobQueue, LeaseLost
from .nnpack import quiet_nnpack
from .spec import SurfaceSpec, one_line
from .surface import NEGATIVE_VARIANCE_POINTS, Progress, compute_surface
from .trajectory import compute_trajectory

log = logging.getLogger("lossatlas.worker")

MAX_IDLE_BACKOFF_S = 60.0


class StopNow(BaseException):
    """Raised in the main thread by a second SIGINT/SIGTERM: the job stops where it is. Not an ``Exception``
    (as KeyboardInterrupt is not): no ``except Exception`` takes it for the job's own failure, and the
    blocks it leaves (a surface file's replacement, a database transaction) undo themselves."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Runs jobs of one queue until ``stop`` is set.

    ``parent_pid``: stop when that process is gone (a worker embedded in ``lossatlas serve`` must not
    outlive the server).
    """

    def __init__(
        self,
        queue: JobQueue,
        worker_id: str | None = None,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
        device: str = "cpu",
        parent_pid: int | None = None,
        backoff_s: float = 1.0,
        ray: str | None = None,
    ):
        self.queue, self.lease_s, self.poll_s, self.device = queue, lease_s, poll_s, device
        self.ray = ray  # run the points on this Ray cluster; this process stays the job's driver and writer
        self.id = worker_id or default_worker_id()
        self.parent_pid = parent_pid
        self.backoff_s = backoff_s  # first wait after a storage error (doubled on each repeat)
        self.stop = threading.Event()
        self.current: Job | None = None  # the job being run
        self._stopping_now = False  # StopNow was raised (or, in a claim, is to be once the job is claimed)
        self._claiming = False  # in the queue's claim: a job it takes is this worker's before run has it
        self._pending: Callable[[], bool] | None = None  # a job's end not yet recorded (database unwritable)

    def stop_signal(self, signum: int, frame: object) -> None:
        """The handler of SIGINT and SIGTERM (the main thread runs it, between two steps of its own): the
        first stops the worker after the point it is computing, and says so; the second stops it at once
        (:class:`StopNow`), or, in the middle of a claim, once the claim is over (:meth:`run`: a job it
        took goes back to the queue, not left to its lease); later ones, while it gives the job back, change
        nothing."""
        if not self.stop.is_set():
            self.stop.set()
            job = self.current
            if job is not None:  # written straight to the descriptor: the main thread may be inside a print
                os.write(
                    2,
                    b"\r" * os.isatty(2)  # over the ^C a terminal echoed
                    + f"lossatlas worker: stopping after the point it is computing of job {job.id}, which then goes "
                    "back to the queue; Ctrl-C again stops at once\n".encode(),
                )
            return
        if self._claiming and not self._stopping_now:  # raised by run once the claim is over
            self._stopping_now = True
            return
        if not self._stopping_now:
            self._stopping_now = True
            raise StopNow()

    def _check_stop_now(self) -> None:
        """Raise a StopNow again: where the second signal's was dropped, the job stops at this check, not
        after its point as for the first signal (where it was raised, the worker is stopping already)."""
        if self._stopping_now:
            raise StopNow()

    def _orphaned(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def run(self, once: bool = False) -> None:
        """Claim and run jobs; with ``once``, return when the queue is empty. A storage error (the queue's
        database on a full disk ...) is logged and waited out with growing pauses, never fatal."""
        failures = 0
        while not self.stop.is_set():
            if self._orphaned():
                self.stop.set()
                break
            job = None
            try:
                self._settle()
                self._claiming = True
                try:
                    job = self.queue.claim(self.id, self.lease_s)
                finally:
                    self._claiming = False
                if job is not None:
                    if self._stopping_now:  # a second signal came during the claim
                        raise StopNow()
                    log.info("job %s: %s", job.id, self.run_job(job))
                failures = 0
            except StopNow:
                if job is not None:
                    self._give_back(job)
                raise
            except STORAGE_ERRORS as e:
                failures += 1
                delay = min(self.backoff_s * 2 ** (failures - 1), MAX_IDLE_BACKOFF_S)
                log.error("worker %s: storage error (%s); waiting %.1f s", self.id, one_line(e), delay)
                self.stop.wait(delay)
                continue
            if job is None:
                if once:
                    return
                self.stop.wait(self.poll_s)

    def _give_back(self, job: Job) -> None:
        """Return a job stopped at once to the queue: one try, no retries (the worker is stopping); when the
        database cannot be written, the job's lease runs out and another worker resumes it then."""
        try:
            released = self.queue.release(job)
        except STORAGE_ERRORS as e:
            log.warning("job %s: stopped at once; could not give it back (%s)", job.id, one_line(e))
            return
        log.info("job %s: %s", job.id, "stopped at once, released" if released else "stopped at once")

    def _retry(self, action, what: str):
        return retry_io(action, what, backoff_s=self.backoff_s, stop=self.stop.is_set, where=self.queue.root)

    def _end(self, end: Callable[[], bool]) -> None:
        """Record a job's end (finish or release); when the database cannot be written, the end stays
        pending and is recorded before this worker claims anything else."""
        self._pending = end
        self._settle()

    def _settle(self) -> None:
        if self._pending is not None:
            self._retry(self._pending, "recording the job's end")
            self._pending = None

    def _recover_points(self, job: Job, out: Path) -> None:
        """Record the points of a resumed file that its previous worker wrote but did not record (killed
        between the two), so that progress events show every finished point."""
        if not out.exists():
            return
        surface = read_surface(out)
        recorded = {(p.ix, p.iy) for p in self.queue.points_since(job.id)}
        nx = surface.done.shape[-1]
        flat = {m: v.reshape(-1) for m, v in surface.metrics.items()}
        missing = []
        for i in np.flatnonzero(surface.done):
            iy, ix = divmod(int(i), nx)
            if (ix, iy) not in recorded:
                missing.append((ix, iy, {m: float(v[i]) for m, v in flat.items()}))
        if missing:
            self.queue.record(
                job,
                self.lease_s,
                int(surface.done.sum()),
                surface.done.size,
                None,
                None,
                missing,
                worker=job.previous_worker or self.id,
            )

    def run_job(self, job: Job) -> str:
        """Compute one claimed job; returns what became of it (done, failed, released, lost)."""
        lost = threading.Event()  # cancelled, or another worker holds the job now
        finished = threading.Event()

        def heartbeat() -> None:
            while not finished.wait(self.lease_s / 3):
                try:
                    if not self.queue.heartbeat(job, self.lease_s):
                        lost.set()
                except STORAGE_ERRORS as e:  # the lease runs on; a write will tell whether it is still ours
                    log.warning("worker %s: heartbeat failed (%s)", self.id, one_line(e))
                if self._orphaned():
                    self.stop.set()

        def progress(p: Progress) -> None:
            if not self._retry(
                lambda: self.queue.record(job, self.lease_s, p.done, p.total, p.rate, p.eta, p.new),
                "recording progress",
            ):
                lost.set()
            self._check_stop_now()

        def should_stop() -> bool:  # checked after every point: a worker whose server died stops at the next one
            self._check_stop_now()
            return lost.is_set() or self.stop.is_set() or self._orphaned()

        beat = threading.Thread(target=heartbeat, name=f"heartbeat-{job.id}", daemon=True)
        beat.start()
        self.current = job
        try:
            spec = SurfaceSpec.model_validate(job.spec)
            out = self.queue.surface_path(job)
            out.parent.mkdir(parents=True, exist_ok=True)
            self._recover_points(job, out)
            write = FencedWriter(self.queue, job, self.lease_s, self.backoff_s, stop=self.stop.is_set)
            compute = compute_trajectory if spec.directions.kind == "pca" else compute_surface
            surface = compute(
                spec, out, device=self.device, progress=progress, should_stop=should_stop, write=write, ray=self.ray
            )
        except LeaseLost as e:
            log.warning("worker %s: %s; leaving the job to its current holder", self.id, e)
            try:
                self.queue.let_go(job.id)
            except STORAGE_ERRORS as e:  # left for the queue's next start (leftover fences)
                log.warning("worker %s: could not tidy up after job %s (%s)", self.id, job.id, one_line(e))
            return "lost"
        except Exception as e:  # the job's fault (bad data, mismatched file, a disk that stays full ...)
            error = job_error(e)  # bound now: the end may be recorded after this block, when e is gone
            self._end(lambda: self.queue.finish(job, "failed", error=error))
            return "failed"
        finally:
            self.current = None
            finished.set()
            beat.join()
        if lost.is_set():
            return "lost"
        if surface.is_complete:
            nan_points = surface.attrs.get(NEGATIVE_VARIANCE_POINTS)
            self._end(
                lambda: self.queue.finish(
                    job, "done", done=int(surface.done.sum()), negative_variance_points=nan_points
                )
            )
            return "done"
        self._end(lambda: self.queue.release(job))
        return "released"


def job_error(e: Exception) -> str:
    """A failed job's error as the server's users read it: they cannot download a dataset, nor see the
    server's paths, so a dataset missing from its data root is the operator's to fix."""
    if isinstance(e, DataNotFound):
        return f"{e.label} is missing on the server ({e.missing}); the server's operator must put its files there"
    return one_line(e)


def add_worker_arguments(p: argparse.ArgumentParser, defaults_elsewhere: bool = False) -> None:
    """Options of a worker process (shared by ``lossatlas worker`` and ``python -m workers.jobloop``).

    ``defaults_elsewhere``: --data-dir, --lease, --poll and --device default to None, for a caller that
    fills them from its own settings.
    """
    # imported here, not at the top: `python -m workers.cli` must not find itself imported
    from .cli import add_ray_argument, add_threads_argument, seconds

    p.add_argument(
        "--data-dir", required=not defaults_elsewhere, help="data directory shared with the server (holds jobs.sqlite3)"
    )
    p.add_argument(
        "--lease",
        type=seconds,
        default=None if defaults_elsewhere else 30.0,
        help="seconds a job stays claimed without a heartbeat",
    )
    p.add_argument(
        "--poll",
        type=seconds,
        default=None if defaults_elsewhere else 1.0,
        help="seconds between looks at an empty queue",
    )
    p.add_argument("--device", default=None if defaults_elsewhere else "cpu", help="cpu, cuda or cuda:N")
    add_threads_argument(p)
    p.add_argument("--worker-id", help="name in the job records (default host:pid)")
    p.add_argument(
        "--retry-backoff",
        type=seconds,
        default=1.0,
        help="seconds before retrying a failed write (doubling; the job fails after 4 retries)",
    )
    add_ray_argument(p)
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")


def run_worker(args: argparse.Namespace) -> int:
    """Run a worker until SIGTERM/SIGINT (or, with --once, until the queue is empty). A device it cannot
    use is refused (``ValueError``) before anything is claimed or created: every job would fail on it."""
    from .checks import check_data_dir, resolve_device

    resolve_device(args.device, remote=args.ray is not None)
    check_data_dir(args.data_dir)
    quiet_nnpack()  # before a job's data check, its first convolution
    logging.basicConfig(level=logging.INFO, format="lossatlas worker: %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    worker = Worker(
        JobQueue(Path(args.data_dir)),
        args.worker_id,
        args.lease,
        args.poll,
        args.device,
        args.parent_pid,
        args.retry_backoff,
        ray=args.ray,
    )
    try:
        with (
            dropped_unreported(lambda e: isinstance(e, StopNow)),  # a job's next check raises it again
            handled_by(worker.stop_signal, stop_signals()),  # one ignored at start stays ignored
        ):
            print(f"lossatlas worker {worker.id}: waiting for jobs in {args.data_dir}", file=sys.stderr, flush=True)
            worker.run(once=args.once)
    except StopNow:  # the job, if any, was given back
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.jobloop", description="Run a lossatlas job worker.")
    add_worker_arguments(parser)
    try:
        return run_worker(parser.parse_args(argv))
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {one_line(e)}\n")


if __name__ == "__main__":
    sys.exit(main())
