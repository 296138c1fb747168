"""Metrics at grid points, one point per pass or K points per pass, and the fast mode's self-check.

A GPU evaluating one ResNet-56 point at a time waits on kernel launches: the convolutions of one
batch are too small to fill it. :class:`PointEvaluator` stacks the weight sets of K grid points and
runs the model on all of them at once (``torch.func.functional_call`` under ``vmap``, which turns
every convolution into one grouped convolution over the K points). Samples and directions stay on the
device; the K points' sums are accumulated there and read back once per chunk. On a CPU vmap was
slower than K sequential passes (DESIGN.md section 4), so there the default is one point per pass.

Exact mode (the default) is fp32 with TF32 off, batched or not; the batched values equal the
per-point ones to float rounding (tests/workers/test_pointeval.py). The fast mode
(:mod:`workers.fastmode`) is checked against it at the centre and the corners of the grid
(:meth:`PointEvaluator.fast_check`), and the deviation is stored with the surface.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, vmap

from .directions import Direction
from .evaluate import PRECISIONS, Evaluator, FlatWeights, exact_numerics
from .fastmode import FastForward, one_line_error
from .objective import Objective

Coords = tuple[float, ...]

# Upper bound on the automatic points per pass: past a few dozen the GPU is full and more only costs memory.
MAX_AUTO_POINTS = 64


def check_points(xs: Sequence[float], ys: Sequence[float] | None = None) -> list[Coords]:
    """The grid's centre (its middle point) and corners (ends of a 1-D grid), each once."""
    xi = [len(xs) // 2, 0, len(xs) - 1]
    if ys is None:
        picks = [(float(xs[i]),) for i in xi]
    else:
        yi = len(ys) // 2
        picks = [(float(xs[xi[0]]), float(ys[yi]))]
        picks += [(float(xs[i]), float(ys[j])) for j in (0, len(ys) - 1) for i in (0, len(xs) - 1)]
    return list(dict.fromkeys(picks))


def _floating_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The module's floating-point parameters and buffers: what differs from one grid point to the next."""
    out = [(n, p) for n, p in module.named_parameters()]
    out += [(n, b) for n, b in module.named_buffers() if torch.is_floating_point(b)]
    return out


class PointEvaluator:
    """Loss and accuracy of ``model`` at grid points ``w + x*dx (+ y*dy)``, exact or fast.

    ``model`` is modified (its weights become views into one flat buffer): pass a copy.
    ``points_per_pass``: grid points evaluated together; ``None`` picks one on CPUs and, on GPUs, as
    many as a quarter of the free memory holds (at most :data:`MAX_AUTO_POINTS`). ``fast``: ``None``
    (exact), ``"fp32"`` or ``"bf16"`` (see :mod:`workers.fastmode`); ``compile``: the fast mode's model
    through ``torch.compile`` (one point per pass only).
    """

    def __init__(
        self,
        model: nn.Module,
        directions: Sequence[Direction],
        splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
        *,
        dir_type: str = "weights",
        loss: str | Objective = "ce",
        batch_size: int = 128,
        device: str | torch.device = "cpu",
        fast: str | None = None,
        compile: bool = False,
        points_per_pass: int | None = None,
    ):
        if points_per_pass is not None and points_per_pass < 1:
            raise ValueError(f"points per pass must be at least 1, got {points_per_pass}")
        self.device = torch.device(device)
        self.model = model
        self.flat = FlatWeights(model, directions, dir_type)
        self.exact = Evaluator(model, splits, loss, batch_size, self.device)
        self.fast = FastForward(model, self.device, bf16=fast == "bf16", compile=compile) if fast else None
        self.evaluator = (
            self.exact
            if self.fast is None
            else Evaluator(
                model,
                self.exact.splits,
                loss,
                batch_size,
                self.device,
                forward=self.fast,
                input_transform=self.fast.prepare_inputs,
            )
        )
        if self.exact.objective.recipe is not None:  # a user's loss, accuracy or output takes one point's outputs
            if points_per_pass not in (None, 1):
                raise ValueError(
                    "a custom loss, accuracy or output is evaluated one point per pass: leave points per pass unset"
                )
            points_per_pass = 1
        self._auto = points_per_pass is None
        self._k = points_per_pass
        self._stacked: torch.Tensor | None = None  # (K, total) weight sets of a chunk

    @property
    def metric_names(self) -> list[str]:
        return self.exact.metric_names

    @property
    def precision(self) -> str:
        """``"bf16"`` when the fast mode runs under bf16 autocast, else the weights' dtype: ``"fp32"`` (TF32
        stays off when exact), or ``"fp64"``, ``"fp16"``, ``"bf16"`` for a model given in that dtype."""
        return "bf16" if self.fast is not None and self.fast.bf16 else PRECISIONS[self.flat.flat.dtype]

    @property
    def counts(self) -> dict[str, int]:
        """Samples per split."""
        return {name: len(y) for name, (_, y) in self.exact.splits.items()}

    def __call__(self, *coords: float) -> dict[str, float]:
        """The metrics at one point: ``point(x, y)``."""
        return self.evaluate_one(coords)

    # ---- one point per pass -------------------------------------------------------------------

    def _move(self, coords: Coords) -> None:
        self.flat.set_point(*coords)
        if self.fast is not None:
            self.fast.refresh()

    def _numerics(self):
        return exact_numerics() if self.fast is None else contextlib.nullcontext()

    def evaluate_one(self, coords: Coords) -> dict[str, float]:
        self._move(coords)
        return self.evaluator.evaluate()

    # ---- K points per pass --------------------------------------------------------------------

    @property
    def points_per_pass(self) -> int:
        if self._k is None:
            self._k = self._auto_points()
        return self._k

    def _auto_points(self) -> int:
        """1 on CPUs; on GPUs the K whose weights and activations fill a quarter of the free memory."""
        if self.device.type != "cuda":
            return 1
        x, _ = next(iter(self.evaluator.splits.values()))
        module, tensors = self._forward_module()
        total = sum(t.numel() for _, t in tensors)
        torch.cuda.synchronize(self.device)
        before = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        try:
            with torch.inference_mode(), self._numerics():
                self._forward_many(
                    module,
                    tensors,
                    torch.cat([t.reshape(1, -1) for _, t in tensors], 1),
                    x[: self.evaluator.batch_size],
                )
        except RuntimeError as e:
            self._warn_unbatchable(e)
            return 1
        torch.cuda.synchronize(self.device)
        per_point = torch.cuda.max_memory_allocated(self.device) - before + 8 * total
        free, _ = torch.cuda.mem_get_info(self.device)
        return max(1, min(MAX_AUTO_POINTS, int(free // 4 // max(per_point, 1))))

    @staticmethod
    def _warn_unbatchable(e: Exception) -> None:
        warnings.warn(
            f"evaluating one point per pass: this model cannot be batched over points ({one_line_error(e)})",
            stacklevel=2,
        )

    def _forward_module(self) -> tuple[nn.Module, list[tuple[str, torch.Tensor]]]:
        module = self.model if self.fast is None else self.fast.module
        return module, _floating_tensors(module)

    def _forward_many(self, module: nn.Module, tensors, stacked: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(K, B, classes)`` of the K weight sets in ``stacked`` (K, total) on the batch ``x``."""
        shapes = [(n, t.shape, t.numel()) for n, t in tensors]

        def one(w: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
            params, offset = {}, 0
            for name, shape, n in shapes:
                params[name] = w[offset : offset + n].view(shape)
                offset += n
            return functional_call(module, params, (inputs,))

        forward = vmap(one, in_dims=(0, None))
        if self.fast is not None and self.fast.bf16:
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return forward(stacked, x)
        return forward(stacked, x)

    def evaluate(self, points: Sequence[Coords]) -> list[dict[str, float]]:
        """Metrics at each of ``points``, in order: K at a time when ``points_per_pass`` > 1."""
        k = self.points_per_pass
        if k == 1 or len(points) == 1:
            return [self.evaluate_one(c) for c in points]
        out = []
        for start in range(0, len(points), k):
            chunk = points[start : start + k]
            try:
                out += self._evaluate_chunk(chunk)
            except RuntimeError as e:  # a model vmap cannot batch (data-dependent control flow, ...)
                if not self._auto:
                    raise ValueError(
                        f"cannot evaluate {k} points per pass with this model ({one_line_error(e)}); use 1"
                    ) from e
                self._warn_unbatchable(e)
                self._k = 1
                out += [self.evaluate_one(c) for c in points[start:]]
                break
        return out

    @torch.inference_mode()
    def _evaluate_chunk(self, chunk: Sequence[Coords]) -> list[dict[str, float]]:
        module, tensors = self._forward_module()
        total = sum(t.numel() for _, t in tensors)
        if self._stacked is None or self._stacked.shape != (self.points_per_pass, total):
            self._stacked = torch.empty(self.points_per_pass, total, dtype=self.flat.flat.dtype, device=self.device)
        for row, coords in zip(self._stacked, chunk):  # per point: a few vector ops, no forward pass
            self._move(coords)
            torch.cat([t.detach().reshape(-1) for _, t in tensors], out=row)
        stacked = self._stacked[: len(chunk)]
        module.eval()
        sums = {}
        with self._numerics():
            for name, (x, y) in self.evaluator.splits.items():
                loss_sum = torch.zeros(len(chunk), dtype=torch.float64, device=self.device)
                correct = torch.zeros(len(chunk), dtype=torch.float64, device=self.device)
                for start in range(0, len(y), self.evaluator.batch_size):
                    logits = self._forward_many(module, tensors, stacked, x[start : start + self.evaluator.batch_size])
                    batch_loss, batch_correct = self.evaluator.objective.batch(
                        logits, y[start : start + self.evaluator.batch_size]
                    )
                    loss_sum += batch_loss
                    correct += batch_correct
                sums[name] = (loss_sum, correct, len(y))
        values = {
            name: (loss.cpu(), correct.cpu(), n) for name, (loss, correct, n) in sums.items()
        }  # one read per chunk
        return [
            {
                key: value
                for name, (loss, correct, n) in values.items()
                for key, value in ((f"{name}_loss", loss[i].item() / n), (f"{name}_acc", 100.0 * correct[i].item() / n))
            }
            for i in range(len(chunk))
        ]

    # ---- the fast mode's self-check ------------------------------------------------------------

    def fast_check(self, points: Sequence[Coords]) -> dict:
        """Evaluate ``points`` both fast and exactly; the largest deviation of each metric.

        Returns ``{"points": [...], "max_abs": {metric: ...}, "max_rel": {metric: ...}}`` (relative to
        the exact value's magnitude; None where every exact value is 0); what a user must see before
        trusting a fast surface.
        """
        if self.fast is None:
            raise ValueError("fast_check needs a fast evaluator")
        fast_values = self.evaluate(points)
        exact_values = []
        for coords in points:
            self.flat.set_point(*coords)
            exact_values.append(self.exact.evaluate())
        max_abs, max_rel = {}, {}
        for name in self.metric_names:
            diffs = [(abs(f[name] - e[name]), abs(e[name])) for f, e in zip(fast_values, exact_values)]
            max_abs[name] = max(d for d, _ in diffs)
            rel = [d / m for d, m in diffs if m > 0]  # undefined where the exact value is 0 (an accuracy of 0%)
            max_rel[name] = max(rel) if rel else None
        return {"points": [list(map(float, c)) for c in points], "max_abs": max_abs, "max_rel": max_rel}
