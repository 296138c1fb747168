"""The zoo: every registered model builds and classifies; the CIFAR ResNets have the expected sizes."""
from __future__ import annotations

import pytest
import torch

from workers.zoo import create_model, list_models


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_builds_and_classifies(name):
    model = create_model(name).eval()
    channels = 1 if name.endswith("mnist") else 3
    with torch.no_grad():
        out = model(torch.randn(2, channels, 32, 32))
    assert out.shape == (2, 10)


def test_resnet_parameter_counts():
    count = lambda name: sum(p.numel() for p in create_model(name).parameters())  # noqa: E731
    # 9n conv layers of 3x3 plus stem, 1x1 option-B shortcuts with BN, linear 64->10.
    for depth in (20, 56, 110):
        n = (depth - 2) // 6
        convs = 3 * 16 * 9 + sum(
            (c_in * c + c * c) * 9 + (n - 1) * 2 * c * c * 9
            for c_in, c in ((16, 16), (16, 32), (32, 64))
        )
        bns = 2 * 16 + sum(2 * 2 * c * n for c in (16, 32, 64))
        shortcut = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
        assert count(f"resnet{depth}") == convs + bns + shortcut + 64 * 10 + 10
        assert count(f"resnet{depth}_noshort") == convs + bns + 64 * 10 + 10
