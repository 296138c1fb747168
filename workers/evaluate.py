"""Loss and accuracy of a model at points ``w + x*dx + y*dy`` of weight space.

The cost of a surface is points x samples / forward throughput; this module adds as little as it can
to that: the model's weights become views into one flat buffer, so moving to a grid point is two
vector operations, and the samples sit preloaded on the device as one tensor.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator, Sequence

import torch
import torch.nn as nn

from .directions import Direction, named_weights
from .objective import Objective, batch_metrics, make_objective  # noqa: F401 (batch_metrics: pointeval, hessian)

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (glibc malloc.h)


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    A forward pass allocates and frees megabytes of activations every batch; with glibc's defaults they
    come from fresh mappings each time, and page faults took a third of a CPU forward pass here.
    ``M_MMAP_MAX=0`` and a high ``M_TRIM_THRESHOLD`` keep the memory mapped: the raw forward pass of
    ResNet-56 ran about 1.5x faster at the same peak memory (bench/README.md). Process-wide and
    idempotent; returns False where the C library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


PRECISIONS = {torch.float32: "fp32", torch.float64: "fp64", torch.float16: "fp16", torch.bfloat16: "bf16"}


def weights_dtype(model: nn.Module, dir_type: str = "weights") -> torch.dtype:
    """The one floating-point dtype of the weights a direction moves: a model is evaluated in its own
    dtype (float32, or float64 / float16 / bfloat16 after ``model.double()`` / ``.half()`` / ...)."""
    dtypes = {t.dtype for _, t in named_weights(model, dir_type) if torch.is_floating_point(t)}
    if not dtypes:
        raise ValueError("the model has no floating-point weights")
    if len(dtypes) > 1:
        names = " and ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))
        raise ValueError(f"the model's weights mix {names}; give it one dtype first (model.float() or model.double())")
    return dtypes.pop()


class FlatWeights:
    """The floating-point weights of ``model`` (``dir_type`` selects which) as views into one buffer.

    ``set_point(x, y)`` writes ``w0 + round(x*dx + y*dy)`` into the buffer, the combination formed in
    float64 and rounded once to the weights' dtype (float32: as the reference code does). Integer buffers
    are left alone.
    """

    def __init__(self, model: nn.Module, directions: Sequence[Direction], dir_type: str = "weights"):
        entries = named_weights(model, dir_type)
        floats = [(i, t) for i, (_, t) in enumerate(entries) if torch.is_floating_point(t)]
        dtype = weights_dtype(model, dir_type)
        device = floats[0][1].device
        total = sum(t.numel() for _, t in floats)
        self.flat = torch.empty(total, dtype=dtype, device=device)
        offset = 0
        for _, t in floats:
            n = t.numel()
            view = self.flat[offset : offset + n].view_as(t)
            view.copy_(t.detach())
            t.data = view  # the parameter / buffer now lives in the flat buffer
            offset += n
        self.w0 = self.flat.clone()
        self.dirs = [
            torch.cat([d[i].reshape(-1).to(torch.float64) for i, _ in floats]).to(device) for d in directions
        ]  # each (total,) float64
        self._delta = torch.empty(total, dtype=torch.float64, device=device)
        self._term = torch.empty(total, dtype=torch.float64, device=device) if len(self.dirs) > 1 else None

    def set_point(self, *coords: float) -> None:
        if len(coords) != len(self.dirs):
            raise ValueError(f"expected {len(self.dirs)} coordinates, got {len(coords)}")
        torch.mul(self.dirs[0], float(coords[0]), out=self._delta)
        for c, d in zip(coords[1:], self.dirs[1:]):
            # Not add_(d, alpha=c): its fused multiply-add rounds differently from x*dx + y*dy.
            torch.mul(d, float(c), out=self._term)
            self._delta.add_(self._term)
        self.flat.copy_(self._delta)  # one rounding to the weights' dtype
        self.flat.add_(self.w0)

    def restore(self) -> None:
        self.flat.copy_(self.w0)


@contextlib.contextmanager
def exact_numerics() -> Iterator[None]:
    """fp32 convolutions and matmuls on GPUs: TF32 off (it rounds their inputs to 10 mantissa bits).

    PyTorch lets cuDNN convolutions use TF32 by default: a model's accuracy measured that way moved by
    0.2 points on the paper's ResNet-56-noshort. Every exact evaluation runs under this.
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class Evaluator:
    """Evaluates a model (in eval mode, without gradients) on fixed preloaded splits.

    ``splits`` maps a split name (``train``/``test``) to ``(inputs, labels)``. ``loss`` is a built-in
    loss name or an :class:`~workers.objective.Objective` (a user's loss, accuracy, output picking).
    ``forward`` replaces ``model(x)`` (the fast mode passes its folded model); without it every
    evaluation is exact: TF32 off on GPUs (:func:`exact_numerics`), whoever calls it.
    """

    def __init__(
        self,
        model: nn.Module,
        splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
        loss: str | Objective = "ce",
        batch_size: int = 128,
        device: str | torch.device = "cpu",
        forward=None,
        input_transform=None,
    ):
        self.objective = loss if isinstance(loss, Objective) else make_objective(loss)
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.model = model
        self.forward = forward or model
        self.batch_size = batch_size
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.splits = {}
        for name, (x, y) in splits.items():
            x = x.to(self.device)
            if input_transform is not None:
                x = input_transform(x)
            self.splits[name] = (x, y.to(self.device))

    @property
    def metric_names(self) -> list[str]:
        return [f"{s}_{m}" for s in self.splits for m in self.objective.metrics]

    @torch.inference_mode()
    def evaluate(self) -> dict[str, float]:
        """``{split}_loss`` (mean over samples) and, with an accuracy, ``{split}_acc`` (percent) per split."""
        self.model.eval()
        with exact_numerics() if self.forward is self.model else contextlib.nullcontext():
            return self._evaluate()

    def _evaluate(self) -> dict[str, float]:
        out = {}
        for name, (x, y) in self.splits.items():
            loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
            correct = torch.zeros((), dtype=torch.float64, device=self.device)
            for start in range(0, len(y), self.batch_size):
                outputs = self.forward(x[start : start + self.batch_size])
                batch_loss, batch_correct = self.objective.batch(outputs, y[start : start + self.batch_size])
                loss_sum += batch_loss
                if batch_correct is not None:
                    correct += batch_correct
            n = len(y)
            out[f"{name}_loss"] = loss_sum.item() / n
            if self.objective.correct is not None:
                out[f"{name}_acc"] = 100.0 * correct.item() / n
        return out
