"""Helpers of the server tests: real uvicorn servers (in a thread or as a ``lossatlas serve`` process) on
ports the system gave them, real ``lossatlas worker`` processes, the engine run directly for comparison."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import torch
import uvicorn
from support import REPO, answering_url, default_stop_signals, local_socket, wait_for, written

from server.app import create_app
from server.serving import LOGGERS, uvicorn_config
from server.settings import DatasetSource, Settings
from workers import SurfaceSpec, compute_surface
from workers.jobloop import Worker
from workers.jobqueue import JobQueue

TOKEN = "test-token-123"


def make_settings(data_dir: Path, tiny_npz: Path, **overrides) -> Settings:
    """Settings of a test server: dataset ``tiny`` (the npz), no embedded worker, an empty gallery."""
    values = dict(
        data_dir=data_dir,
        gallery_dir=data_dir.parent / "gallery",
        frontend_dir=REPO / "frontend",
        datasets={"tiny": DatasetSource(kind="tensors", root=tiny_npz)},
        embedded_worker=False,
        lease_s=2.0,
        poll_s=0.2,
    )
    return Settings(**{**values, **overrides})


def direct_surface(request: dict, tiny_npz: Path):
    """The engine run directly (one thread, as the test workers) on what a job request asks."""
    spec = SurfaceSpec(
        model=request["model"],
        checkpoint=request.get("checkpoint"),
        dataset="tensors",
        data_root=str(tiny_npz),
        split=request.get("split", "train"),
        samples=request["samples"],
        sample_seed=request.get("sample_seed", 0),
        batch_size=request.get("batch_size", 128),
        directions=request.get("directions", {}),
        x=request["x"],
        y=request.get("y"),
        hessian=request.get("hessian"),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return compute_surface(spec)
    finally:
        torch.set_num_threads(threads)


class ThreadServer:
    """uvicorn serving ``create_app(settings)`` (or ``app``) in a thread of the test process; ``guarded``: with
    the protocol of ``lossatlas serve`` (its timeouts and connection limit from ``settings``)."""

    def __init__(self, settings: Settings, app: Callable | None = None, guarded: bool = False):
        self.settings = settings
        self.sock = local_socket()  # closed by __exit__
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = app or create_app(settings)
        # the loggers' filters as they were: uvicorn_config adds its rate limit to them, for this server only
        self._filters = {name: list(logging.getLogger(name).filters) for name in LOGGERS}
        if guarded:
            config = uvicorn_config(app, settings)
        else:
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.worker: subprocess.Popen | None = None  # a worker process that a test started for this server

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_for(lambda: self.server.started, 20, what="uvicorn to start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
        for name, filters in self._filters.items():
            logging.getLogger(name).filters[:] = filters

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def work(self) -> None:
        """A worker of this process runs the server's queue once (the test servers have none of their own)."""
        Worker(JobQueue(self.settings.data_dir), "w-test").run(once=True)

    def run_job(self, client: httpx.Client, request: dict) -> dict:
        """Submit ``request`` (accepted: 202), :meth:`work`; the job as the API shows it then."""
        r = client.post("/api/jobs", json=request)
        assert r.status_code == 202, r.text
        self.work()
        return client.get(f"/api/jobs/{r.json()['id']}").json()


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a ``/proc/.../stat`` file after the command name (state, parent ...); [] when the
    process or thread has ended."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return []


def stop(pid: int) -> None:
    """SIGSTOP ``pid`` and wait until every thread of it has stopped: the signal is asynchronous, so a
    process may run on for a moment after ``kill`` returns (and, say, begin a write)."""
    os.kill(pid, signal.SIGSTOP)

    def stopped() -> bool:
        states = (_stat_fields(task / "stat")[:1] for task in Path(f"/proc/{pid}/task").iterdir())
        return all(state in ([], ["T"], ["t"]) for state in states)

    wait_for(stopped, 30, 0.001, f"process {pid} to stop")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [
        int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _stat_fields(stat)[1:2] == [str(pid)]
    ]


@contextmanager
def paused(pid: int, ready: Callable[[], object], what: str, timeout: float = 120) -> Iterator[None]:
    """Process ``pid`` stopped (SIGSTOP) at a moment when ``ready()`` holds, checked while it is stopped so
    that it still holds in the body; continued (SIGCONT) after the body. Until then it runs in short
    stretches between the checks."""

    def stopped_when_ready() -> bool:
        stop(pid)
        if ready():
            return True
        os.kill(pid, signal.SIGCONT)
        return False

    try:
        wait_for(stopped_when_ready, timeout, 0.005, what)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile (killed by the body, say)
            os.kill(pid, signal.SIGCONT)


def database_free(data_dir: Path) -> bool:
    """Nobody holds the job queue's write lock (a write transaction could begin now, without waiting)."""
    db = sqlite3.connect(data_dir / "jobs.sqlite3", timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.OperationalError:  # locked
        return False
    finally:
        db.close()
    return True


def between_writes(data_dir: Path) -> bool:
    """Nobody holds the job queue's write lock nor a job's fence (``locks/<job id>``, held while a surface
    file is replaced): a worker stopped now holds up no other writer or claim (SQLite's and the fences'
    locking, not what a test that pauses a worker is about)."""
    if not database_free(data_dir):
        return False
    for lock in (data_dir / "locks").iterdir():
        try:
            fd = os.open(lock, os.O_RDONLY)
        except FileNotFoundError:  # its job ended meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
    return True


class Processes:
    """Processes started by a test, their output in files (a pipe nobody reads would block them);
    whatever is still running at the end is killed."""

    def __init__(self):
        self.procs: list[tuple[subprocess.Popen, IO[str]]] = []

    def start(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        terminal: bool = False,
        preexec_fn: Callable[[], None] = default_stop_signals,
    ) -> subprocess.Popen:
        """``lossatlas ARGS``, with SIGINT and SIGTERM as a terminal's command has them, whatever pytest
        inherited (``preexec_fn``: :func:`support.default_stop_signals` unless given); ``terminal``: in a process group of its own, as a
        shell runs a command, so that ``os.killpg(proc.pid, SIGINT)`` is a Ctrl-C on its terminal (it reaches
        the whole group)."""
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (kept open with its process; closed by stop)
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *args],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0 if terminal else None,
            preexec_fn=preexec_fn,
        )
        self.procs.append((proc, log))
        return proc

    def output(self, proc: subprocess.Popen) -> str:
        return written(next(log for p, log in self.procs if p is proc))

    def worker(self, data_dir: Path, lease: float = 2.0, worker_id: str | None = None) -> subprocess.Popen:
        args = ["worker", "--data-dir", str(data_dir), "--lease", str(lease), "--poll", "0.2", "--threads", "1"]
        return self.start(*args, *(["--worker-id", worker_id] if worker_id else []))

    def serve(
        self,
        data_dir: Path,
        tiny_npz: Path,
        env: dict[str, str] | None = None,
        terminal: bool = False,
        **settings: str,
    ) -> tuple[subprocess.Popen, str]:
        """``lossatlas serve --port 0`` as a process, configured through the environment (``settings``: more
        LOSSATLAS_* variables by field name, over the defaults here; ``env``: other variables; ``terminal``:
        see :meth:`start`); waits until it answers. Returns it and its address (the port the system gave it:
        one found free beforehand could be taken before the server binds it)."""
        env = {
            **(env or {}),
            "LOSSATLAS_DATASETS": json.dumps({"tiny": {"kind": "tensors", "root": str(tiny_npz)}}),
            "LOSSATLAS_GALLERY_DIR": str(data_dir.parent / "gallery"),
            "LOSSATLAS_LEASE_S": "2",
            "LOSSATLAS_POLL_S": "0.2",
            **{f"LOSSATLAS_{k.upper()}": v for k, v in settings.items()},
        }
        proc = self.start(
            "serve", "--data-dir", str(data_dir), "--port", "0", "--threads", "1", env=env, terminal=terminal
        )
        return proc, answering_url(lambda: self.output(proc), proc)

    def kill_all(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            log.close()


def job_request(**overrides) -> dict:
    """A small 2-D job on the tiny dataset."""
    return {"model": "tinycnn", "dataset": "tiny", "samples": 200, "x": "-1:1:5", "y": "-1:1:5", **overrides}
