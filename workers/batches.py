"""A user's data as two fixed tensors: ``(inputs, targets)``, a map-style dataset, or any iterable of
batches (a ``DataLoader``, a generator, a list of ``(inputs, targets)`` batches).

Every grid point must see the same samples, or the surface mixes data with weights. So the data is read
exactly once, before the first point, and concatenated into two tensors that every point then slices in
the same order: a shuffling ``DataLoader`` or random transforms are drawn once and frozen, and a
one-shot generator is fine. It follows that the samples must fit in memory (on the evaluation device),
as the built-in datasets do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def _pair(item: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(item, dict):
        raise ValueError(f"{what} is a dict; give (inputs, targets) pairs")
    try:
        x, y = item
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not an (inputs, targets) pair but {type(item).__name__}") from None
    return torch.as_tensor(x), torch.as_tensor(y)


def _is_dataset(data: Any) -> bool:
    """Map-style: indexable with a length, and not a DataLoader (which has a length but yields batches)."""
    return (
        hasattr(data, "__getitem__")
        and hasattr(data, "__len__")
        and not isinstance(data, torch.utils.data.DataLoader)
        and not isinstance(data, (list, tuple))
    )


def as_tensors(split: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)`` of a split, materialised once (see the module docstring).

    Accepts a pair of tensors; a map-style dataset of ``(input, target)`` samples (stacked); or an
    iterable of ``(inputs, targets)`` batches (a ``DataLoader``, a generator, a list of batches),
    concatenated along the first dimension. Targets may be class indices, floats (regression) or
    multi-dimensional (multi-label, sequences).
    """
    if isinstance(split, (tuple, list)) and len(split) == 2 and all(isinstance(t, torch.Tensor) for t in split):
        x, y = split
        if len(x) != len(y):
            raise ValueError(f"inputs and targets differ in length: {len(x)} and {len(y)}")
        return x, y
    if _is_dataset(split):
        pairs = [_pair(split[i], f"sample {i}") for i in range(len(split))]
        if not pairs:
            raise ValueError("the dataset is empty")
        return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])
    if not isinstance(split, Iterable):
        raise ValueError(
            f"data splits must be (inputs, targets) tensors, a dataset of pairs or an iterable "
            f"of batches, not {type(split).__name__}"
        )
    xs, ys = [], []
    for i, batch in enumerate(split):
        x, y = _pair(batch, f"batch {i}")
        if x.dim() == 0 or y.dim() == 0 or len(x) != len(y):
            raise ValueError(f"batch {i} is not a batch: inputs {tuple(x.shape)}, targets {tuple(y.shape)}")
        xs.append(x)
        ys.append(y)
    if not xs:
        raise ValueError("the iterable of batches is empty")
    return torch.cat(xs), torch.cat(ys)
