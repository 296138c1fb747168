"""Work done at grid points, as an object an executor can ship to wherever the points are evaluated.

A :class:`PointWork` holds everything the evaluation needs (model, directions, samples) and builds,
once per process that runs it, a function from a list of grid coordinates to one metrics dict per
point. The local executor builds it in this process; the Ray executor ships the work once to each
actor and builds it there (``workers/ray_executor.py``). Loss and accuracy are the first kind of
work; the Hessian's eigenvalues at a point are another kind behind the same interface.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn as nn

from .directions import Direction
from .evaluate import Evaluator, FlatWeights
from .fastmode import FastForward

Coords = tuple[float, ...]  # (x,) or (x, y)
PointFn = Callable[[Sequence[Coords]], list[dict[str, float]]]


class PointWork(Protocol):
    """Picklable work at grid points: ``start(device)`` prepares it in the running process; ``fast``
    says whether it may run with TF32 (see :func:`evaluation_mode`)."""

    fast: bool

    def start(self, device: torch.device) -> PointFn: ...


def _denormals_flushed() -> bool:
    """Whether torch flushes denormals now (torch offers no getter: a denormal times one tells)."""
    return (torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0


@contextlib.contextmanager
def evaluation_mode(fast: bool) -> Iterator[None]:
    """The process-wide torch settings every point is evaluated under, restored on exit.

    Denormals are flushed (denormal activations slow CPU kernels); unless ``fast``, TF32 is off so that
    GPUs compute exact fp32 too (TF32 would round the inputs of convolutions and matmuls). A Ray actor
    enters this for its lifetime, so its points are computed exactly as the local engine's.
    """
    flushing = _denormals_flushed()
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.set_flush_denormal(True)
    if not fast:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_flush_denormal(flushing)
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


@dataclass
class LossWork:
    """Loss and accuracy of ``model`` at ``w + x*dx (+ y*dy)`` on preloaded ``splits``.

    ``model`` is modified by ``start`` (its weights become views into the flat buffer): give each
    process its own copy (the local caller passes a private copy; a Ray actor unpickles one).
    """

    model: nn.Module
    directions: list[Direction]
    dir_type: str
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    loss: str = "ce"
    batch_size: int = 128
    fast: bool = False

    def start(self, device: torch.device) -> PointFn:
        model = self.model.to(device).eval()
        flat = FlatWeights(model, self.directions, self.dir_type)
        fast = FastForward(model, device) if self.fast else None
        evaluator = Evaluator(
            model, self.splits, self.loss, self.batch_size, device,
            forward=fast, input_transform=fast.prepare_inputs if fast else None,
        )

        def evaluate(points: Sequence[Coords]) -> list[dict[str, float]]:
            out = []
            for coords in points:
                flat.set_point(*coords)
                if fast is not None:
                    fast.refresh()
                out.append(evaluator.evaluate())
            return out

        return evaluate
