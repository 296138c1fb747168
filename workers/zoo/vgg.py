"""VGG with BatchNorm for CIFAR (Simonyan & Zisserman 2015), as defined in the loss-landscape code.

VGG-9 is seven 3x3 convolutions and two linear layers; VGG-16 thirteen and two. After the
convolutions a linear layer with BatchNorm1d maps the flattened maps to ``n_maps`` features, then
the classifier.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model

_CFG: dict[str, list[int | str]] = {
    "vgg9": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, cfg: list[int | str], num_classes: int = 10, input_size: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels, size = 3, input_size
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
                size = (size + 1) // 2
            else:
                layers += [nn.Conv2d(in_channels, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Linear(in_channels * size * size, in_channels), nn.BatchNorm1d(in_channels), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x).flatten(1)  # (B, C*H*W)
        return self.classifier(self.fc(out))


@register_model
def vgg9(**kwargs) -> VGG:
    return VGG(_CFG["vgg9"], **kwargs)


@register_model
def vgg16(**kwargs) -> VGG:
    return VGG(_CFG["vgg16"], **kwargs)
