"""PCA directions of an optimization path, and checkpoints projected onto a plane (Li et al. 2018, sec. 7).

Two random directions in a space of millions of dimensions are nearly orthogonal to any fixed vector,
so a training path hardly moves in a random plane. The paper plots it instead in the plane of the
path's first two principal components: the rows ``flatten(w_i - w_final)`` over the checkpoints,
centred as scikit-learn's ``PCA`` centres them, and the top two right singular vectors of that matrix
(unit vectors, not filter-normalized) as the x and y directions. Computed here from the n x n Gram
matrix in float64 (n checkpoints), which gives the same components as an SVD of the n x p matrix with
memory and time linear in the number of weights p, and without a scikit-learn dependency.

Signs follow scikit-learn (>= 1.5): the entry of largest magnitude of each component is positive.
Files follow the reference code: a direction file with ``explained_variance_``,
``explained_variance_ratio_`` and ``singular_values_`` at its root; projections in ``proj_xcoord`` and
``proj_ycoord``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .directions import Direction
from .h5io import new_h5, open_h5, write_directions

PROJECTIONS = ("cos", "lstsq")
PCA_FIELDS = ("explained_variance_", "explained_variance_ratio_", "singular_values_")
_BLOCK_VALUES = 1 << 24  # values per column block (128 MiB in float64) when forming the Gram matrix


@dataclass
class PCAResult:
    """The first principal components of a path and scikit-learn's statistics about them."""

    components: torch.Tensor  # (k, p) float64 unit rows
    explained_variance: np.ndarray  # (k,) singular_values**2 / (n - 1)
    explained_variance_ratio: np.ndarray  # (k,) share of the total variance
    singular_values: np.ndarray  # (k,)

    def stats(self) -> dict[str, np.ndarray]:
        """The reference's dataset names -> values."""
        return dict(zip(PCA_FIELDS, (self.explained_variance, self.explained_variance_ratio, self.singular_values)))


def flatten_difference(
    tensors: Sequence[torch.Tensor], final: Sequence[torch.Tensor], ignore: str = "biasbn"
) -> torch.Tensor:
    """``flatten(w - w_final)`` in float64 over aligned tensor lists.

    Entries of tensors with ``dim() <= 1`` are zero under ``ignore='biasbn'`` (as the reference's
    ``ignore_biasbn``); integer buffers (``num_batches_tracked``) are always zero.
    """
    parts = []
    for w, f in zip(tensors, final, strict=True):
        if tuple(w.shape) != tuple(f.shape):
            raise ValueError(f"a checkpoint tensor has shape {tuple(w.shape)}, the final model's has {tuple(f.shape)}")
        if not torch.is_floating_point(f) or (ignore == "biasbn" and f.dim() <= 1):
            parts.append(torch.zeros(f.numel(), dtype=torch.float64))
        else:
            parts.append((w.detach().cpu().double() - f.detach().cpu().double()).reshape(-1))
    return torch.cat(parts)


def flatten_direction(direction: Direction) -> torch.Tensor:
    """A direction as one float64 vector."""
    return torch.cat([d.detach().cpu().double().reshape(-1) for d in direction])


def unflatten(vector: torch.Tensor, shapes: Sequence[tuple[int, ...]]) -> Direction:
    """A flat vector as float32 tensors of ``shapes``."""
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        out.append(vector[start : start + size].reshape(shape).float().clone())
        start += size
    if start != vector.numel():
        raise ValueError(f"a vector of {vector.numel()} values does not fill weights of {start} values")
    return out


def principal_components(matrix: torch.Tensor, k: int = 2) -> PCAResult:
    """The first ``k`` principal components of the rows of ``matrix`` (n x p), centred first.

    Matches scikit-learn's ``PCA(n_components=k).fit(matrix)`` with its exact solver: components of
    unit norm, ``explained_variance_ = s**2 / (n - 1)``, the ratio against the total variance of all
    components. Raises ``ValueError`` when the rows span fewer than ``k`` directions.
    """
    n, p = matrix.shape
    if n < k + 1:
        raise ValueError(f"PCA of {k} components needs at least {k + 1} checkpoints, got {n}")
    mean = matrix.double().mean(dim=0)  # (p,)
    width = max(1, _BLOCK_VALUES // n)
    gram = torch.zeros(n, n, dtype=torch.float64)
    for start in range(0, p, width):
        block = matrix[:, start : start + width].double() - mean[start : start + width]  # (n, b)
        gram += block @ block.T
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)  # ascending
    top = torch.argsort(eigenvalues, descending=True)[:k]
    lam, u = eigenvalues[top].clamp(min=0.0), eigenvectors[:, top]  # (k,), (n, k)
    total = float(torch.trace(gram))
    if total <= 0 or float(lam[-1]) <= 1e-12 * total:
        raise ValueError(
            f"the checkpoints span fewer than {k} directions (they lie on a line or coincide): "
            "no PCA plane; use more distinct checkpoints"
        )
    s = lam.sqrt()
    components = torch.empty(k, p, dtype=torch.float64)
    for start in range(0, p, width):
        block = matrix[:, start : start + width].double() - mean[start : start + width]
        components[:, start : start + width] = (u.T @ block) / s[:, None]  # (k, b)
    components /= components.norm(dim=1, keepdim=True)  # unit up to rounding
    peak = components.abs().argmax(dim=1)
    components *= torch.sign(components[torch.arange(k), peak])[:, None]
    return PCAResult(
        components,
        (lam / (n - 1)).numpy(),
        (lam / total).numpy(),
        s.numpy(),
    )


def pca_directions(
    matrix: torch.Tensor, shapes: Sequence[tuple[int, ...]], floating: Sequence[bool], ignore: str = "biasbn"
) -> tuple[list[Direction], PCAResult]:
    """x and y directions (float32, in ``shapes``) from the path matrix of :func:`flatten_difference` rows.

    ``floating[i]`` says whether tensor i is a float tensor; 1-D entries (under ``biasbn``) and
    integer buffers are zeroed again, as the reference does.
    """
    result = principal_components(matrix, 2)
    directions = []
    for pc in result.components:
        direction = unflatten(pc, shapes)
        for d, is_float in zip(direction, floating):
            if not is_float or (ignore == "biasbn" and d.dim() <= 1):
                d.zero_()
        directions.append(direction)
    return directions, result


def project(
    rows: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, method: str = "cos"
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of each row ``d = flatten(w_i - w_final)`` in the plane of the flat directions.

    ``cos`` (the reference's default): ``x = <d, dx>/||dx||``, ``y = <d, dy>/||dy||``, the surface's
    coordinates when dx and dy are orthonormal (PCA directions are). ``lstsq``: the least-squares
    solution of ``[dx dy] (x, y) = d``, the surface's coordinates of the nearest point in the plane for
    any two independent directions.
    """
    if method not in PROJECTIONS:
        raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}; got {method!r}")
    rows, dx, dy = rows.double(), dx.double(), dy.double()
    if method == "cos":
        return (rows @ dx / dx.norm()).numpy(), (rows @ dy / dy.norm()).numpy()
    a = torch.stack([dx, dy], dim=1)  # (p, 2)
    solution = torch.linalg.lstsq(a, rows.T).solution  # (2, n)
    return solution[0].numpy(), solution[1].numpy()


def write_pca_directions(
    path: str | Path, names: list[str], directions: list[Direction], result: PCAResult, attrs: Mapping | None = None
) -> None:
    """The reference's PCA direction file (plus our weight names and ``attrs``), atomically."""
    write_directions(path, names, directions, dict(attrs or {}), datasets=result.stats())


def read_pca_stats(path: str | Path) -> dict[str, np.ndarray] | None:
    """``explained_variance_`` ... of a PCA direction file (ours or the reference's); None for others."""
    with open_h5(Path(path), "direction file ") as f:
        if not all(name in f for name in PCA_FIELDS):
            return None
        return {name: np.asarray(f[name][()], dtype=np.float64) for name in PCA_FIELDS}


def write_projection(path: str | Path, x: np.ndarray, y: np.ndarray) -> None:
    """A projection file as the reference's ``project_trajectory`` writes it, atomically."""
    with new_h5(path) as f:
        f["proj_xcoord"] = np.asarray(x, dtype=np.float64)
        f["proj_ycoord"] = np.asarray(y, dtype=np.float64)


def read_projection(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(proj_xcoord, proj_ycoord)`` of a reference projection file."""
    path = Path(path)
    with open_h5(path, "projection file ") as f:
        if "proj_xcoord" not in f or "proj_ycoord" not in f:
            raise ValueError(f"{path.name} has no proj_xcoord/proj_ycoord datasets: not a projection file")
        x = np.asarray(f["proj_xcoord"][()], dtype=np.float64).reshape(-1)
        y = np.asarray(f["proj_ycoord"][()], dtype=np.float64).reshape(-1)
    if x.size != y.size:
        raise ValueError(f"{path.name} holds {x.size} x and {y.size} y coordinates")
    return x, y
