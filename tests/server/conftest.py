"""Fixtures of the server tests: a tiny ``tensors`` dataset and a guard that kills test processes.
Helpers live in ``serverkit.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from serverkit import Processes


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tensors`` dataset: 2000 train and 300 test 16x16 RGB uint8 images, 10 classes."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (2000, 16, 16, 3), dtype=np.uint8),
        y_train=rng.integers(0, 10, 2000),
        x_test=rng.integers(0, 256, (300, 16, 16, 3), dtype=np.uint8),
        y_test=rng.integers(0, 10, 300),
    )
    return path


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.kill_all()
