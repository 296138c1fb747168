"""Helpers shared by the test folders: the repository's paths, the ``../shared`` inputs, a free local port held
for a server of this process, a ``lossatlas serve`` process started and the address it bound, what a child wrote to its
log file, the signal dispositions a child needs, polling (and killing a process at a state it is seen in), a
clock moved by hand, a small file system to fill, and the tiny ``tensors`` datasets. Helpers of one folder stay
in that folder's own module (``server/serverkit.py``, ``frontend/frontend_support.py``,
``workers/independent.py``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PAPER_MODELS = SHARED / "models" / "loss-landscape-paper"
CIFAR10_JPEG = SHARED / "data" / "cifar10-jpeg.tar.xz"


def can_mount_tmpfs() -> bool:
    """Whether a test can mount a small real file system (a tmpfs in a user and mount namespace made with
    ``unshare``) to fill up."""
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        mount = ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {d}"]
        return subprocess.run(mount, capture_output=True).returncode == 0


def local_socket() -> socket.socket:
    """A socket bound to a free local port, for a server of this process to listen on (uvicorn's
    ``sockets=``): held from here on, the port cannot be taken meanwhile, as a port found free and bound
    later could be."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


# the first line of `lossatlas serve`: the address it bound, the port the system gave it for --port 0
SERVING = re.compile(r"^lossatlas: serving (http://\S+:([0-9]+))/ ", re.MULTILINE)


def served_url(proc: subprocess.Popen, timeout: float = 120.0) -> str:
    """The address of ``lossatlas serve --port 0`` (started with ``stderr=PIPE``, text): the port the system gave
    it, as its first line names it. A port found free beforehand may be taken before the server binds it."""
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:  # what follows stays in the stream's buffer, for the test to read on
            lines.append(line)
            if SERVING.match(line):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():  # killed: its stderr ends, and the reader with it
        proc.kill()
        reader.join()
    served = SERVING.match(lines[-1]) if lines else None
    assert served and served[2] != "0", f"no address (exit status {proc.poll()}): {''.join(lines)}"
    return served[1]


def answering_url(output: Callable[[], str], proc: subprocess.Popen, timeout: float = 120.0) -> str:
    """The address of a ``lossatlas serve --port 0`` whose output goes to a file (a pipe would fill up unread
    while the test goes on), once it answers there: the port its first line names, as for :func:`served_url`.
    ``output()`` is what it has written so far."""

    def named() -> re.Match | None:
        served = SERVING.search(output())
        assert served or proc.poll() is None, f"no address (exit status {proc.poll()}): {output()}"
        return served

    served = wait_for(named, timeout, 0.05, "lossatlas serve to name its address")
    assert served[2] != "0", served[0]

    def answering() -> bool:
        assert proc.poll() is None, f"lossatlas serve exited: {output()}"
        return answers(served[1])

    wait_for(answering, timeout, 0.2, "lossatlas serve to answer")
    return served[1]


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether the lossatlas server at ``url`` answers ``GET /api/config`` (False while it is not listening yet,
    or too busy starting to answer in ``timeout`` seconds)."""
    try:
        return httpx.get(f"{url}/api/config", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serving(
    command: list[str | Path],
    data_dir: Path,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[tuple[subprocess.Popen, str]]:
    """``COMMAND serve --port 0 --no-worker --data-dir DATA_DIR`` (``command``: how lossatlas is run), its
    stderr piped (text), once it answers: the process and its address (:func:`served_url`). ``preexec_fn``: the
    signal dispositions it starts with (default: :func:`default_stop_signals`). Left running by the block, it
    is stopped as Ctrl-C stops it (killed if that takes more than 30 s)."""
    argv = [*map(str, command), "serve", "--port", "0", "--no-worker", "--data-dir", str(data_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if env is None else env
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn or default_stop_signals,
    )
    try:
        url = served_url(proc)  # the port it bound: one found free before could be taken meanwhile
        # answering: uvicorn runs, with its signal handlers (before, the socket listens while the app is made)
        wait_for(lambda: proc.poll() is not None or answers(url, 5), what="lossatlas serve to answer")
        assert proc.poll() is None, proc.communicate()[1]
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def written(log: IO[str]) -> str:
    """What child processes have written so far to ``log``, their stdout: read at offsets, leaving the file's
    position alone. They share it: after a ``seek(0)`` a child writes over the start of its own output."""
    fd, chunks = log.fileno(), []
    while chunk := os.pread(fd, 1 << 20, sum(map(len, chunks))):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")  # a character being written may be cut


def default_stop_signals() -> None:
    """``preexec_fn`` of a child that a test stops with SIGINT or SIGTERM: their default dispositions, whatever
    this process inherited (a shell's background job ignores SIGINT, and so would its children: Python then
    raises no KeyboardInterrupt, and lossatlas leaves a signal ignored as it found it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def ignored_signals(pid: int) -> set[int]:
    """The signals that process ``pid`` ignores, as the kernel holds them (``SigIgn`` in its status)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    mask = int(next(line for line in status if line.startswith("SigIgn:")).split()[1], 16)
    return {sig for sig in range(1, 65) if mask >> (sig - 1) & 1}


def ignore_ctrl_c() -> None:
    """``preexec_fn`` of ``lossatlas serve &`` (or ``worker &``) in a shell script: SIGINT ignored, SIGTERM as ever."""
    default_stop_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, every: float = 0.1, what: str = "condition"):
    """Poll until ``predicate()`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def kill_when(proc: subprocess.Popen, predicate: Callable[[], object], timeout: float = 120.0, every: float = 0.01):
    """SIGKILL ``proc`` at the first poll where ``predicate()`` is truthy, judged while ``proc`` is stopped
    (SIGSTOP): what the predicate saw (a file's points) is what ``proc`` leaves behind, however long the poll
    took on a loaded machine (a running process could finish meanwhile). Returns the predicate's value, or
    None when ``proc`` ended first or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        proc.send_signal(signal.SIGSTOP)
        try:
            value = predicate()
            if value:
                proc.send_signal(signal.SIGKILL)
                return value
        finally:
            proc.send_signal(signal.SIGCONT)  # a killed process ends (SIGKILL ends a stopped one too)
        time.sleep(every)
    return None


class ManualClock:
    """A clock (seconds) that moves only when told: ``JobQueue(dir, clock=ManualClock())`` judges leases by
    it, so that a lease expires when the test says, not when a loaded machine stalls past it."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_tensors_npz(path: Path, train: int, test: int, seed: int) -> Path:
    """A ``tensors`` dataset file: float32 3x8x8 NCHW inputs and labels in 0..9, drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    np.savez(
        path,
        x_train=torch.randn(train, 3, 8, 8, generator=gen).numpy(),
        y_train=torch.randint(0, 10, (train,), generator=gen).numpy(),
        x_test=torch.randn(test, 3, 8, 8, generator=gen).numpy(),
        y_test=torch.randint(0, 10, (test,), generator=gen).numpy(),
    )
    return path
