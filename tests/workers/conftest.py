"""Fixtures of the engine tests: a tiny model with non-trivial BatchNorm statistics and tiny datasets,
in memory and as a ``tensors`` file. Factories and independent computations live in ``independent.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from independent import make_model
from support import write_tensors_npz


@pytest.fixture
def model() -> nn.Module:
    return make_model("tinycnn")


@pytest.fixture
def data() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """In-memory splits: 48 train and 40 test samples of 3x8x8 (not multiples of the batch sizes used)."""
    gen = torch.Generator().manual_seed(1)
    return {
        "train": (torch.randn(48, 3, 8, 8, generator=gen), torch.randint(0, 10, (48,), generator=gen)),
        "test": (torch.randn(40, 3, 8, 8, generator=gen), torch.randint(0, 10, (40,), generator=gen)),
    }


@pytest.fixture
def tensors_npz(tmp_path: Path) -> Path:
    """A ``tensors`` dataset file: float32 NCHW inputs with train and test splits."""
    return write_tensors_npz(tmp_path / "tiny.npz", train=40, test=24, seed=2)


@pytest.fixture(autouse=True)
def _one_thread_and_state_restored():
    """One torch thread: these tensors are tiny, and on a shared 2-core machine a second OpenMP thread
    mostly spins. Engine calls must leave torch's global state (threads, grad mode) as they found it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    grad = torch.is_grad_enabled()
    yield
    assert torch.get_num_threads() == 1
    assert torch.is_grad_enabled() == grad
    torch.set_num_threads(threads)


@pytest.fixture
def learnable_npz(tmp_path):
    """A tiny CIFAR-shaped dataset whose label is a fixed function of the image: a model can learn it."""
    rng = np.random.default_rng(0)

    def make(n):
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = (x[..., 0].mean(axis=(1, 2)) > x[..., 2].mean(axis=(1, 2))).astype(np.int64)
        return x, y

    x_train, y_train = make(256)
    x_test, y_test = make(64)
    path = tmp_path / "learnable.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
