"""Independent computations and factories for the engine tests.

Everything here is written from the definitions in DESIGN.md section 3 with plain torch/numpy loops,
sharing no code with ``workers`` beyond the zoo's model constructors, so that a test comparing the
engine against it compares two implementations.
"""

from __future__ import annotations

import copy
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from support import PAPER_MODELS

from workers.zoo import create_model

RESNET56_T7 = PAPER_MODELS / "resnet56_sgd_lr0.1_bs128_wd0.0005_model_300.t7"
RESNET56_NOSHORT_T7 = PAPER_MODELS / "resnet56_noshort_sgd_lr0.1_bs128_wd0.0005_model_300.t7"


def randomize_bn_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters (a freshly built model
    has mean 0, var 1, weight 1, bias 0, which hides mistakes in how BN is treated)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                m.weight.copy_(0.8 + 0.4 * torch.rand(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.num_batches_tracked.fill_(7)
    return model


def make_model(name: str = "tinycnn", seed: int = 0) -> nn.Module:
    """A zoo model drawn from ``seed`` with randomized BatchNorm, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(name)
    return randomize_bn_(model, seed).eval()


def make_images(n: int, seed: int = 0, size: int = 8, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 NHWC images and int64 labels in 0..9."""
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8),
        rng.integers(0, 10, n).astype(np.int64),
    )


def plain_metrics(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 16, loss: str = "ce"
) -> tuple[float, float]:
    """(mean loss, accuracy in percent) by the reference's loop: batch-mean losses weighted by batch size."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            out = model(xb)
            if loss == "ce":
                batch_loss = nn.CrossEntropyLoss()(out, yb)
            else:  # the reference: MSELoss(softmax(out), one_hot)
                onehot = torch.zeros(len(yb), out.shape[1]).scatter_(1, yb.view(-1, 1), 1.0)
                batch_loss = nn.MSELoss()(F.softmax(out, dim=1), onehot)
            total_loss += batch_loss.item() * len(yb)
            _, predicted = torch.max(out, 1)
            correct += int(predicted.eq(yb).sum())
    return total_loss / len(y), 100.0 * correct / len(y)


def read_direction_file(path: Path) -> list[list[np.ndarray]]:
    """The x (and y) direction of a direction file, straight from h5py."""
    with h5py.File(path, "r") as f:
        return [
            [np.asarray(f[g][str(i)][()]) for i in range(len(f[g]))] for g in ("xdirection", "ydirection") if g in f
        ]


def perturbed(
    model: nn.Module, directions: list[list[np.ndarray]], coords: tuple[float, ...], dir_type: str = "weights"
) -> nn.Module:
    """A copy of ``model`` with weights ``w + round32(x*dx + y*dy)`` (the combination formed in float64)."""
    out = copy.deepcopy(model)
    tensors = list(out.parameters()) if dir_type == "weights" else list(out.state_dict(keep_vars=True).values())
    with torch.no_grad():
        for i, t in enumerate(tensors):
            if not torch.is_floating_point(t):
                continue
            delta = sum(float(c) * d[i].astype(np.float64) for c, d in zip(coords, directions))
            t.add_(torch.from_numpy(np.asarray(delta, dtype=np.float32)).view_as(t))
    return out.eval()


def write_reference_surface(
    path: Path, x: np.ndarray, y: np.ndarray | None, grid: dict[str, np.ndarray], dir_file: str = "dirs.h5"
) -> None:
    """A surface file exactly as the reference code writes it.

    ``grid`` maps metric names to ``[iy, ix]`` arrays (``-1`` for pending points). The reference stores a
    ``(nx, ny)`` array and fills ``losses.ravel()[k]`` for the k-th point of ``np.meshgrid(x, y)``, which
    is ordered ``(ny, nx)`` row-major: so the stored array is the ``[iy, ix]`` grid's ravel reshaped to
    ``(nx, ny)``.
    """
    with h5py.File(path, "w") as f:
        f["dir_file"] = dir_file
        f["xcoordinates"] = x
        if y is not None:
            f["ycoordinates"] = y
        for name, values in grid.items():
            shape = x.shape if y is None else (len(x), len(y))
            stored = -np.ones(shape)
            if y is None:
                stored[:] = values
            else:
                xm, ym = np.meshgrid(x, y)
                for k in range(stored.size):  # the reference's loop over unplotted indices
                    ix = int(np.flatnonzero(x == xm.ravel()[k])[0])
                    iy = int(np.flatnonzero(y == ym.ravel()[k])[0])
                    stored.ravel()[k] = values[iy, ix]
            f[name] = stored


def write_reference_directions(path: Path, directions: list[list[np.ndarray]]) -> None:
    """A direction file as the reference's ``h5_util.write_list`` writes it: no names."""
    with h5py.File(path, "w") as f:
        for group_name, direction in zip(("xdirection", "ydirection"), directions):
            group = f.create_group(group_name)
            for i, d in enumerate(direction):
                group.create_dataset(str(i), data=d)


def explicit_hessian(
    model: nn.Module, names: list[str], x: torch.Tensor, y: torch.Tensor, loss: str = "ce", dtype=torch.float64
) -> np.ndarray:
    """The Hessian of the mean loss over all samples (one batch) with respect to the named parameters,
    formed row by row by ``torch.autograd.functional.hessian`` on a copy of the model in ``dtype``
    (float64 by default; float32 for conv nets, whose float64 kernels are slow on CPUs)."""
    m = copy.deepcopy(model).to(dtype).eval()
    params = dict(m.named_parameters())
    shapes = [params[n].shape for n in names]
    flat0 = torch.cat([params[n].detach().reshape(-1) for n in names])

    def f(flat: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, [int(np.prod(s)) for s in shapes])
        out = torch.func.functional_call(
            m, {**params, **{n: t.view(s) for n, t, s in zip(names, parts, shapes)}}, (x.to(dtype),)
        )
        if loss == "ce":
            return F.cross_entropy(out, y)
        onehot = torch.zeros_like(out).scatter_(1, y.view(-1, 1), 1.0)
        return nn.MSELoss()(F.softmax(out, dim=1), onehot)

    h = torch.autograd.functional.hessian(f, flat0).double().numpy()
    return (h + h.T) / 2
