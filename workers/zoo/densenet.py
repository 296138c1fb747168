"""DenseNet-121 for CIFAR (Huang et al. 2017), the variant used by the loss-landscape code.

Bottleneck layers (BN-ReLU-1x1 conv to 4k channels, BN-ReLU-3x3 conv to k), growth rate k=32,
blocks of 6/12/24/16 layers, transitions halving channels and resolution, a 3x3 stem.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model


class Bottleneck(nn.Module):
    def __init__(self, in_planes: int, growth_rate: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    def __init__(self, in_planes: int, out_planes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(nn.Module):
    def __init__(self, nblocks: tuple[int, ...], growth_rate: int = 32, reduction: float = 0.5, num_classes: int = 10):
        super().__init__()
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        for i, n in enumerate(nblocks, start=1):
            layers = []
            for _ in range(n):
                layers.append(Bottleneck(planes, growth_rate))
                planes += growth_rate
            setattr(self, f"dense{i}", nn.Sequential(*layers))
            if i < len(nblocks):
                out_planes = int(math.floor(planes * reduction))
                setattr(self, f"trans{i}", Transition(planes, out_planes))
                planes = out_planes
        self.bn = nn.BatchNorm2d(planes)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)  # (B, 64, 32, 32)
        out = self.trans1(self.dense1(out))  # (B, 128, 16, 16)
        out = self.trans2(self.dense2(out))  # (B, 256, 8, 8)
        out = self.trans3(self.dense3(out))  # (B, 512, 4, 4)
        out = self.dense4(out)  # (B, 1024, 4, 4)
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)  # (B, 1024)
        return self.linear(out)


@register_model
def densenet121(**kwargs) -> DenseNet:
    return DenseNet((6, 12, 24, 16), growth_rate=32, **kwargs)
