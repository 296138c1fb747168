"""Helpers shared by the test folders: the repository's paths, the ``../shared`` inputs, free local ports,
polling, and the tiny ``tensors`` datasets. Helpers of one folder stay in that folder's own module
(``server/serverkit.py``, ``frontend/frontend_support.py``, ``workers/independent.py``)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PAPER_MODELS = SHARED / "models" / "loss-landscape-paper"
CIFAR10_JPEG = SHARED / "data" / "cifar10-jpeg.tar.xz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, every: float = 0.1, what: str = "condition"):
    """Poll until ``predicate()`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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
