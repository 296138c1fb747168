"""Directions in weight space: random filter-normalized ones, and targets between checkpoints.

A direction is a list of tensors aligned with a model's weights (``model.parameters()`` order for
``dir_type='weights'``, ``model.state_dict()`` order for ``'states'``, which adds BatchNorm running
statistics). Li et al. (2018) rescale each filter of a random direction to the norm of the matching
filter of the weights: ReLU networks with BatchNorm are invariant to the scale of a filter, so an
unnormalized direction moves small-norm filters much further, relatively, than large ones, and plots
of different networks are not comparable. Filter normalization removes that scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from .vocab import DIR_TYPES, IGNORES, NORMS, DirType, Ignore, Norm

Direction = list[torch.Tensor]


def _check(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def named_weights(model: nn.Module, dir_type: DirType = "weights") -> list[tuple[str, torch.Tensor]]:
    """The tensors a direction spans, with their names, in the reference code's order.

    A tensor shared by several modules (tied weights) appears once, under its first name, as
    ``named_parameters`` lists it: the state dict names it once per module, and a direction with an entry
    for each would move it twice (as the reference code's ``states`` directions do) or only by the last.
    """
    _check(dir_type, DIR_TYPES, "dir_type")
    if dir_type == "weights":
        return list(model.named_parameters())
    seen: set[int] = set()
    out = []
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) not in seen:
            seen.add(id(t))
            out.append((name, t))
    return out


def normalize_direction_(d: torch.Tensor, w: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Rescale one direction tensor ``d`` for weight ``w`` in place (``d.dim() > 1``).

    ``filter``: every slice along dim 0 (a conv filter, a linear row) gets the norm of the same
    slice of ``w``; ``layer``: the whole tensor gets ``||w||``; ``weight``: ``d * w``; ``none``: as is.
    """
    _check(norm, NORMS, "norm")
    if norm == "filter":
        for d_f, w_f in zip(d, w):
            d_f.mul_(w_f.norm() / (d_f.norm() + 1e-10))
    elif norm == "layer":
        d.mul_(w.norm() / d.norm())
    elif norm == "weight":
        d.mul_(w)
    return d


def random_direction(
    weights: Sequence[torch.Tensor],
    generator: torch.Generator,
    norm: Norm = "filter",
    ignore: Ignore = "biasbn",
) -> Direction:
    """One Gaussian direction drawn from ``generator``, normalized against ``weights``.

    Tensors with ``dim() <= 1`` (biases, BatchNorm weights, running statistics) get a zero direction
    with ``ignore='biasbn'``; otherwise a copy of the weight itself, as the reference code does (a
    step x then scales them by 1 + x). Integer buffers (``num_batches_tracked``) always get zero.
    """
    _check(ignore, IGNORES, "ignore")
    direction = []
    for weight in weights:
        w = weight.detach().cpu().float()
        d = torch.randn(w.shape, generator=generator, dtype=torch.float32)
        if not torch.is_floating_point(weight):
            d.zero_()
        elif w.dim() <= 1:
            d.zero_() if ignore == "biasbn" else d.copy_(w)
        else:
            normalize_direction_(d, w, norm)
        direction.append(d)
    return direction


def random_directions(
    model: nn.Module,
    seed: int,
    count: int = 2,
    norm: Norm = "filter",
    ignore: Ignore = "biasbn",
    dir_type: DirType = "weights",
    same_dir: bool = False,
) -> list[Direction]:
    """``count`` (1 or 2) random directions from one seeded generator, x first.

    ``same_dir=True`` makes the y direction equal to the x direction (a diagonal sanity check).
    """
    weights = [w for _, w in named_weights(model, dir_type)]
    gen = torch.Generator().manual_seed(int(seed))
    dx = random_direction(weights, gen, norm, ignore)
    if count == 1:
        return [dx]
    dy = [d.clone() for d in dx] if same_dir else random_direction(weights, gen, norm, ignore)
    return [dx, dy]


def target_direction(model: nn.Module, target: nn.Module, dir_type: DirType = "weights") -> Direction:
    """``w_target - w_model`` (unnormalized), for interpolation between two models."""
    mine, theirs = named_weights(model, dir_type), named_weights(target, dir_type)
    names, other = [n for n, _ in mine], [n for n, _ in theirs]
    if names != other:
        first = next((a, b) for a, b in zip(names + [None], other + [None]) if a != b)
        raise ValueError(f"target model's weights differ from the model's: {first[0]!r} vs {first[1]!r}")
    out = []
    for (name, w1), (_, w2) in zip(mine, theirs):
        if w1.shape != w2.shape:
            raise ValueError(f"target weight {name!r} has shape {tuple(w2.shape)}, model has {tuple(w1.shape)}")
        if torch.is_floating_point(w1):
            out.append((w2.detach().cpu().double() - w1.detach().cpu().double()).float())
        else:
            out.append(torch.zeros(w1.shape, dtype=torch.float32))
    return out


def negative_variance_points(
    model: nn.Module, directions: Sequence[Direction], dir_type: DirType, xs: Sequence[float], ys=None
) -> torch.Tensor:
    """The grid points (a bool tensor of the surface's grid shape: ``(len(xs),)`` or ``(len(ys), len(xs))``)
    where a BatchNorm running variance the directions move falls below ``-eps``.

    ``states`` directions move running variances linearly, so past the ends of an interpolation (or of a
    training path's PCA plane) they can turn negative: the layer then takes the square root of a negative
    number and every value of the point (loss, accuracy ...) is NaN. Only ``states`` directions move them.
    """
    grid = (len(xs),) if ys is None else (len(ys), len(xs))
    out = torch.zeros(grid, dtype=torch.bool)
    if dir_type != "states":
        return out
    index = {name: i for i, (name, _) in enumerate(named_weights(model, dir_type))}
    x = torch.as_tensor(xs, dtype=torch.float64)[:, None]
    y = None if ys is None else torch.as_tensor(ys, dtype=torch.float64)[:, None, None]
    for prefix, module in model.named_modules():
        i = index.get(f"{prefix}.running_var" if prefix else "running_var")
        if i is None or not isinstance(module, nn.modules.batchnorm._NormBase):
            continue
        v0 = module.running_var.detach().cpu().double().flatten()
        dx = directions[0][i].detach().cpu().double().flatten()
        v = v0 + x * dx  # (nx, channels)
        if y is not None:
            v = v + y * directions[1][i].detach().cpu().double().flatten()  # (ny, nx, channels)
        out |= (v < -module.eps).any(-1)
    return out
