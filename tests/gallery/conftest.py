import numpy as np
import pytest


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
