"""CIFAR ResNets (He et al. 2016) with and without shortcut connections.

Module and parameter names match the loss-landscape paper's code (Li et al. 2018), so its published
checkpoints load with strict key matching: ``conv1``, ``bn1``, ``layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}``,
``layer{2,3}.0.shortcut.{0,1}`` (1x1 conv + BN, option B) and ``linear``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model


class BasicBlock(nn.Module):
    """relu(bn1(conv1 x)) -> bn2(conv2 .) (+ shortcut x) -> relu."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.use_shortcut = shortcut
        if shortcut and (stride != 1 or in_planes != planes):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        else:
            self.shortcut = nn.Sequential()  # identity; holds no parameters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_shortcut:
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """Three stages of 16/32/64 channels, global average pooling, a linear classifier."""

    def __init__(self, depth: int, shortcut: bool = True, num_classes: int = 10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes_in = 16
        stages = []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(planes_in, planes, stride if i == 0 else 1, shortcut))
                planes_in = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))  # (B, 16, 32, 32)
        out = self.layer3(self.layer2(self.layer1(out)))  # (B, 64, 8, 8)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # (B, 64)
        return self.linear(out)


def _create_resnet(depth: int, shortcut: bool, **kwargs) -> CifarResNet:
    return CifarResNet(depth, shortcut=shortcut, **kwargs)


@register_model
def resnet20(**kwargs) -> CifarResNet:
    return _create_resnet(20, True, **kwargs)


@register_model
def resnet20_noshort(**kwargs) -> CifarResNet:
    return _create_resnet(20, False, **kwargs)


@register_model
def resnet32(**kwargs) -> CifarResNet:
    return _create_resnet(32, True, **kwargs)


@register_model
def resnet32_noshort(**kwargs) -> CifarResNet:
    return _create_resnet(32, False, **kwargs)


@register_model
def resnet44(**kwargs) -> CifarResNet:
    return _create_resnet(44, True, **kwargs)


@register_model
def resnet44_noshort(**kwargs) -> CifarResNet:
    return _create_resnet(44, False, **kwargs)


@register_model
def resnet56(**kwargs) -> CifarResNet:
    return _create_resnet(56, True, **kwargs)


@register_model
def resnet56_noshort(**kwargs) -> CifarResNet:
    return _create_resnet(56, False, **kwargs)


@register_model
def resnet110(**kwargs) -> CifarResNet:
    return _create_resnet(110, True, **kwargs)


@register_model
def resnet110_noshort(**kwargs) -> CifarResNet:
    return _create_resnet(110, False, **kwargs)
