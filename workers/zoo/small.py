"""A tiny CNN for tests, demos and quick looks (MNIST-sized and CIFAR-sized inputs alike)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model


class TinyCNN(nn.Module):
    """conv-BN-ReLU (8), conv-BN-ReLU (16, stride 2), global average pooling, linear."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.linear = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))  # (B, 8, H, W)
        out = F.relu(self.bn2(self.conv2(out)))  # (B, 16, H/2, W/2)
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


@register_model
def tinycnn(**kwargs) -> TinyCNN:
    return TinyCNN(**kwargs)


@register_model
def tinycnn_mnist(**kwargs) -> TinyCNN:
    return TinyCNN(in_channels=1, **kwargs)
