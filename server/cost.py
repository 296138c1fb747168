"""What a job costs, in forward-pass work: grid points x samples x splits x the model's FLOPs per sample,
in TFLOP, checked against ``max_job_tflop`` on submit and shown with every job and in /api/config.

A model's FLOPs per sample are counted once per process (torch's FlopCounterMode, on the meta device: no
weights are made and nothing is computed) for one 32 x 32 input with the channels of its first layer:
an estimate, exact for CIFAR-sized data. Counting DenseNet-121 takes seconds, so a model is counted when
a job first names it; /api/config shows the models counted so far.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from workers import create_model

SIDE = 32  # inputs are counted as SIDE x SIDE images


_gflop: dict[str, float] = {}  # counted so far, by model name


def gflop_per_sample(model: str) -> float:
    """FLOPs (multiply and add counted apart) of one forward pass of one sample, in GFLOP."""
    if model not in _gflop:
        with torch.device("meta"):
            net = create_model(model).eval()
            first = next(m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
            shape = (1, first.in_channels, SIDE, SIDE) if isinstance(first, nn.Conv2d) else (1, first.in_features)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                net(torch.zeros(shape))
        _gflop[model] = counter.get_total_flops() / 1e9
    return _gflop[model]


def known_gflop(models: list[str]) -> dict[str, float | None]:
    """Per-sample GFLOP of the models counted so far (None: not yet)."""
    return {model: _gflop.get(model) for model in models}


def job_tflop(model: str, passes: float, samples: int, splits: int) -> float:
    """The work of ``passes`` forward passes over ``samples`` samples of each split, in TFLOP."""
    return passes * samples * splits * gflop_per_sample(model) / 1e3
