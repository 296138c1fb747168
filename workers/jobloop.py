"""The worker loop: claim a surface job from the queue, compute it, report progress, repeat.

While a job runs, a heartbeat thread renews the job's lease; every finished point is recorded with its
values (the server streams them). The engine writes the surface file after every point and resumes a
partial one, so a job taken over from a dead worker continues where that worker stopped. A job that is
cancelled, or taken over because this worker stalled past its lease, stops at the next point. On
SIGTERM/SIGINT the worker stops at the next point and gives its job back to the queue.

Run one with ``lossatlas worker`` or ``python -m workers.jobloop --data-dir DIR``.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import torch

from .cli import add_ray_argument
from .spec import one_line
from .jobqueue import Job, JobQueue
from .spec import SurfaceSpec
from .surface import Progress, compute_surface
from .trajectory import compute_trajectory


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
        ray: str | None = None,
    ):
        self.queue, self.lease_s, self.poll_s, self.device = queue, lease_s, poll_s, device
        self.ray = ray  # run the points on this Ray cluster; this process stays the job's driver and writer
        self.id = worker_id or default_worker_id()
        self.parent_pid = parent_pid
        self.stop = threading.Event()

    def _orphaned(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def run(self, once: bool = False) -> None:
        """Claim and run jobs; with ``once``, return when the queue is empty."""
        while not self.stop.is_set():
            if self._orphaned():
                self.stop.set()
                break
            job = self.queue.claim(self.id, self.lease_s)
            if job is None:
                if once:
                    return
                self.stop.wait(self.poll_s)
                continue
            self.run_job(job)

    def run_job(self, job: Job) -> str:
        """Compute one claimed job; returns what became of it (done, failed, released, lost)."""
        lost = threading.Event()  # cancelled, or another worker holds the job now
        finished = threading.Event()

        def heartbeat() -> None:
            while not finished.wait(self.lease_s / 3):
                if not self.queue.heartbeat(job.id, self.id, self.lease_s):
                    lost.set()
                if self._orphaned():
                    self.stop.set()

        def progress(p: Progress) -> None:
            if not self.queue.record(job.id, self.id, self.lease_s, p.done, p.total, p.rate, p.eta, p.new):
                lost.set()

        def should_stop() -> bool:
            return lost.is_set() or self.stop.is_set()

        beat = threading.Thread(target=heartbeat, name=f"heartbeat-{job.id}", daemon=True)
        beat.start()
        try:
            spec = SurfaceSpec.model_validate(job.spec)
            out = self.queue.surface_path(job)
            out.parent.mkdir(parents=True, exist_ok=True)
            compute = compute_trajectory if spec.directions.kind == "pca" else compute_surface
            surface = compute(
                spec, out, device=self.device, progress=progress, should_stop=should_stop, ray=self.ray
            )
        except Exception as e:  # the job's fault (bad data, mismatched file ...): record it, keep serving
            self.queue.finish(job.id, self.id, "failed", error=one_line(e))
            return "failed"
        finally:
            finished.set()
            beat.join()
        if lost.is_set():
            return "lost"
        if surface.is_complete:
            self.queue.finish(job.id, self.id, "done", done=int(surface.done.sum()))
            return "done"
        self.queue.release(job.id, self.id)
        return "released"


def add_worker_arguments(p: argparse.ArgumentParser, defaults_elsewhere: bool = False) -> None:
    """Options of a worker process (shared by ``lossatlas worker`` and ``python -m workers.jobloop``).

    ``defaults_elsewhere``: --data-dir, --lease and --poll default to None, for a caller that fills
    them from its own settings.
    """
    p.add_argument("--data-dir", required=not defaults_elsewhere,
                   help="data directory shared with the server (holds jobs.sqlite3)")
    p.add_argument("--lease", type=float, default=None if defaults_elsewhere else 30.0,
                   help="seconds a job stays claimed without a heartbeat")
    p.add_argument("--poll", type=float, default=None if defaults_elsewhere else 1.0,
                   help="seconds between looks at an empty queue")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    p.add_argument("--worker-id", help="name in the job records (default host:pid)")
    add_ray_argument(p)
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")


def run_worker(args: argparse.Namespace) -> int:
    """Run a worker until SIGTERM/SIGINT (or, with --once, until the queue is empty)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    worker = Worker(
        JobQueue(Path(args.data_dir)), args.worker_id, args.lease, args.poll, args.device, args.parent_pid, args.ray
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop.set())
    print(f"lossatlas worker {worker.id}: waiting for jobs in {args.data_dir}", file=sys.stderr, flush=True)
    worker.run(once=args.once)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.jobloop", description="Run a lossatlas job worker.")
    add_worker_arguments(parser)
    return run_worker(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
