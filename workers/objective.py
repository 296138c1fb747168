"""What is measured at a grid point: the model's output, a per-sample loss and, optionally, an accuracy.

The built-in losses are ``ce`` (cross-entropy) and ``mse`` (softmax against one-hot, the reference
code's MSELoss), both with top-1 accuracy. Through the Python API any loss works: a callable
``(outputs, targets) -> per-sample losses`` (regression, multi-label, a language model's tokens), with
an accuracy callable ``(outputs, targets) -> per-sample scores in [0, 1]`` or none at all; and a model
that returns a dict or a tuple has its output picked by a key, an index or a function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

LOSSES = ("ce", "mse")

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, targets) -> (N,) losses
AccuracyFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, targets) -> (N,) in [0, 1]
OutputPick = str | int | Callable[[Any], torch.Tensor] | None


def batch_metrics(logits: torch.Tensor, target: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed per-sample loss and number correct of one batch, as float64, for a built-in loss.

    ``logits`` is ``(B, classes)`` or ``(K, B, classes)`` for K grid points at once (``target`` is
    ``(B,)`` either way); the sums are scalars or ``(K,)``.
    """
    logits = logits if logits.dtype == torch.float64 else logits.float()  # (..., B, C); fp16/bf16 upcast
    target = target.expand(logits.shape[:-1])  # (..., B)
    flat_logits, flat_target = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
    if loss == "ce":
        per_sample = F.cross_entropy(flat_logits, flat_target, reduction="none")
    else:  # mse between softmax and one-hot, averaged over classes (the reference's MSELoss)
        onehot = F.one_hot(flat_target, logits.shape[-1]).to(logits.dtype)
        per_sample = (F.softmax(flat_logits, dim=1) - onehot).pow(2).mean(dim=1)
    total = per_sample.view(target.shape).sum(dim=-1)
    correct = _undefined_where_nan((logits.argmax(dim=-1) == target).double(), logits.isnan().any(dim=-1))
    return total.double(), correct.sum(dim=-1)


def _undefined_where_nan(scores: torch.Tensor, nan: torch.Tensor) -> torch.Tensor:
    """Per-sample accuracy scores, NaN where the sample's outputs hold a NaN: it has no prediction (argmax
    reads NaN as the largest value, so a NaN network scored the share of one class, 10% on CIFAR-10)."""
    return scores.masked_fill(nan, float("nan"))


def top1(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 where the largest output is the target class, else 0 (per sample)."""
    return outputs.argmax(dim=1) == targets


def describe(fn: Any) -> str:
    """``module.qualname`` of a callable: how a user's loss is named in a surface's recipe."""
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', None) or type(fn).__module__}.{name}"


def pick_output(output: OutputPick) -> Callable[[Any], torch.Tensor]:
    """A function from the model's raw output to the tensor the loss takes.

    ``None`` takes a tensor as it is; a string is a key of a dict (or an attribute, as of Hugging Face's
    output classes), an int an index of a tuple or list, a callable does its own picking.
    """
    if callable(output):
        return output

    def pick(raw: Any) -> torch.Tensor:
        if output is None:
            if isinstance(raw, torch.Tensor):
                return raw
            kind = (
                f"a dict with keys {', '.join(map(repr, raw))}" if isinstance(raw, dict) else f"a {type(raw).__name__}"
            )
            raise ValueError(
                f"the model returned {kind}, not a tensor; pass output=<key, index or function> "
                "to pick the one the loss takes"
            )
        try:
            if isinstance(output, str) and not isinstance(raw, dict):
                return getattr(raw, output)
            return raw[output]
        except (KeyError, IndexError, AttributeError, TypeError):
            raise ValueError(f"output={output!r}: the model's {type(raw).__name__} output has no such entry") from None

    return pick


@dataclass(frozen=True)
class Objective:
    """Output picking, loss and accuracy of one evaluation, as batch sums in float64."""

    loss_sum: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None  # a user's loss, summed; None: builtin
    builtin: str | None  # "ce" or "mse": :func:`batch_metrics`, which also takes K points at once
    correct: AccuracyFn | None
    output: Callable[[Any], torch.Tensor]
    recipe: dict[str, str | None] | None  # what the surface's recipe records; None for a built-in loss as is

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric suffixes per split: ``loss`` and, with an accuracy, ``acc``."""
        return ("loss", "acc") if self.correct is not None else ("loss",)

    def batch(self, raw: Any, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Summed loss and summed accuracy score (number correct) of one batch, as float64 (scalars, or
        ``(K,)`` for the built-in objective given K points' outputs at once)."""
        outputs = self.output(raw)
        if self.builtin is not None:
            total, correct = batch_metrics(outputs, targets, self.builtin)
            if self.correct is top1:
                return total, correct
        else:
            total = self.loss_sum(outputs, targets).double()
        if self.correct is None:
            return total, None
        scores = self.correct(outputs, targets).double()
        if isinstance(outputs, torch.Tensor) and outputs.dim() >= 1 and scores.shape == (len(outputs),):
            scores = _undefined_where_nan(scores, outputs.reshape(len(outputs), -1).isnan().any(dim=1))
        return total, scores.sum()


def _user_loss_sum(fn: LossFn) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def loss_sum(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses = fn(outputs, targets)
        if not isinstance(losses, torch.Tensor) or losses.dim() != 1 or len(losses) != len(targets):
            shape = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
            raise ValueError(
                f"the loss {describe(fn)} must return one value per sample, shape ({len(targets)},), "
                f"got {shape}; use reduction='none' (and average over other dimensions)"
            )
        return losses.double().sum()

    return loss_sum


def make_objective(
    loss: str | LossFn = "ce", accuracy: AccuracyFn | str | None = "auto", output: OutputPick = None
) -> Objective:
    """Build an :class:`Objective`.

    ``accuracy``: a callable, ``"top1"``, None (no accuracy metric), or ``"auto"``: top-1 for a built-in
    loss, none for a callable one.
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)} or a callable; got {loss!r}")
        loss_sum, builtin, loss_name = None, loss, loss
    elif callable(loss):
        loss_sum, builtin, loss_name = _user_loss_sum(loss), None, describe(loss)
    else:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)} or a callable; got {type(loss).__name__}")
    if accuracy == "auto":
        accuracy = "top1" if isinstance(loss, str) else None
    if accuracy == "top1":
        correct, acc_name = top1, "top1"
    elif accuracy is None or callable(accuracy):
        correct, acc_name = accuracy, (describe(accuracy) if accuracy is not None else None)
    else:
        raise ValueError(
            f"accuracy must be 'auto', 'top1', None or a callable (outputs, targets) -> per-sample "
            f"scores; got {accuracy!r}"
        )
    out_name = None if output is None else (describe(output) if callable(output) else repr(output))
    as_is = isinstance(loss, str) and acc_name == "top1" and output is None
    recipe = None if as_is else {"loss": loss_name, "accuracy": acc_name, "output": out_name}
    return Objective(loss_sum, builtin, correct, pick_output(output), recipe)
