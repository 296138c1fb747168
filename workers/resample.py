"""Cubic resampling of a 2-D surface onto an N x N grid, for ``lossatlas export --vtp --interp N`` (the
reference's ``h52vtp.py`` resamples with SciPy's ``interp2d(kind='cubic')`` over ``linspace(min, max, N)``).

A local cubic in NumPy, first along x, then along y: between two nodes, the cubic (Hermite) that takes
their values and, at each, the slope of the parabola through it and its two neighbours (one-sided at an
edge or beside a hole). Quadratics are reproduced exactly and, unlike SciPy's global spline, a point that
is not computed spoils only the cells it is a corner of, as in the export without resampling; SciPy stays
optional. New nodes that fall on original ones (to rounding) take their coordinates, and so their values,
exactly.
"""

from __future__ import annotations

import numpy as np

# 4096 x 4096 is 16.8 M points, about a gigabyte of ASCII VTP: a larger N is a typo, not a figure
MAX_POINTS = 4096


def resample_cubic(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``z`` (ny, nx) at ``xs`` x ``ys`` resampled onto ``n`` x ``n`` points spanning the same ranges: the new
    (x, y, z), NaN where a cell of the original grid with a non-finite corner is crossed."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= MAX_POINTS:
        raise ValueError(f"interp (points per axis of the resampled grid) must be 2 to {MAX_POINTS}, got {n}")
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    for name, c in (("x", xs), ("y", ys)):
        if len(c) < 2 or not (np.diff(c) > 0).all():
            raise ValueError(f"resampling needs at least 2 increasing {name} coordinates; the surface has {c.tolist()}")
    z = np.where(np.isfinite(z), np.asarray(z, dtype=np.float64), np.nan)
    new_x, new_y = _nodes(xs, n), _nodes(ys, n)
    along_x = _cubic(xs, z, new_x)  # (ny, n)
    return new_x, new_y, _cubic(ys, along_x.T, new_y).T


def _nodes(c: np.ndarray, n: int) -> np.ndarray:
    """``linspace(min, max, n)``, with the points within rounding of an original node put on it."""
    new = np.linspace(c[0], c[-1], n)
    nearest = np.abs(new[:, None] - c[None, :]).argmin(axis=1)
    on_node = np.abs(new - c[nearest]) <= 1e-9 * (c[-1] - c[0])
    new[on_node] = c[nearest[on_node]]
    return new


def _cubic(c: np.ndarray, v: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Each row of ``v`` (values at the nodes ``c``) at the points ``new``, by cubic Hermite pieces."""
    d = _slopes(c, v)
    i = np.clip(np.searchsorted(c, new, side="right") - 1, 0, len(c) - 2)
    h = c[i + 1] - c[i]
    t = (new - c[i]) / h
    v0, v1, d0, d1 = v[:, i], v[:, i + 1], d[:, i] * h, d[:, i + 1] * h
    out = (1 + 2 * t) * (1 - t) ** 2 * v0 + t * (1 - t) ** 2 * d0 + t**2 * (3 - 2 * t) * v1 + t**2 * (t - 1) * d1
    # on a node its value, exactly, even beside a hole (a NaN slope or neighbour times 0 is still NaN)
    return np.where(t == 0, v0, np.where(t == 1, v1, out))


def _slopes(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """dv/dc at each node of each row: the parabola through the node and its neighbours when both are
    finite, else through the node and the next two on the finite side, else the line to a finite neighbour."""
    k = len(c)
    finite = np.isfinite(v)
    d = np.full(v.shape, np.nan)
    for i in range(k):
        for nodes in ((i - 1, i, i + 1), (i, i + 1, i + 2), (i - 2, i - 1, i), (i, i + 1), (i - 1, i)):
            if min(nodes) < 0 or max(nodes) >= k:
                continue
            idx = list(nodes)
            use = np.isnan(d[:, i]) & finite[:, idx].all(axis=1)
            d[use, i] = v[use][:, idx] @ _derivative_weights(c[idx], c[i])
    return d


def _derivative_weights(nodes: np.ndarray, at: float) -> np.ndarray:
    """Weights w with sum(w * values) = the derivative at ``at`` of the polynomial through (nodes, values)."""
    weights = []
    for j, node in enumerate(nodes):
        others = np.delete(nodes, j)
        slope = sum(np.prod(np.delete(at - others, m)) for m in range(len(others)))
        weights.append(slope / np.prod(node - others))
    return np.asarray(weights)
