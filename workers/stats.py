"""Landscape statistics: how convex does a surface look near its centre?

Li et al. (2018, section 6) map the ratio of the Hessian's smallest to largest eigenvalue to show that
landscapes of networks without skip connections are far from convex. We compute the cheap version on
the surface itself: the Hessian of the plotted 2-D function, by central finite differences on the grid.
A point counts as non-convex when that Hessian has a negative eigenvalue whose magnitude exceeds 10% of
its largest (positive) one; the statistic is the share of such points inside the central disc of radius
0.5. For 1-D surfaces the second derivative takes the Hessian's place.

When the surface carries the real measure (``max_eig``/``min_eig``, the extreme eigenvalues of the
Hessian in the full weight space, ``workers/hessian.py``), the same rule is applied to them as well and
reported beside the grid-based share, each labelled with its ``method``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RADIUS = 0.5
RATIO = 0.1


def grid_hessian(z: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central-difference second derivatives ``(fxx, fyy, fxy)`` at interior points of ``z[iy, ix]``
    (shape ``(ny-2, nx-2)``); uneven spacing is not supported (grids are linspaces)."""
    hx, hy = x[1] - x[0], y[1] - y[0]
    fxx = (z[1:-1, 2:] - 2 * z[1:-1, 1:-1] + z[1:-1, :-2]) / hx**2
    fyy = (z[2:, 1:-1] - 2 * z[1:-1, 1:-1] + z[:-2, 1:-1]) / hy**2
    fxy = (z[2:, 2:] - z[2:, :-2] - z[:-2, 2:] + z[:-2, :-2]) / (4 * hx * hy)
    return fxx, fyy, fxy


def nonconvex_mask(fxx: np.ndarray, fyy: np.ndarray, fxy: np.ndarray, ratio: float = RATIO) -> np.ndarray:
    """True where the 2x2 Hessian's smallest eigenvalue is negative and ``|min| > ratio * max``.

    When both eigenvalues are negative (a local maximum) the point is non-convex as well.
    """
    mean = (fxx + fyy) / 2
    radius = np.sqrt(((fxx - fyy) / 2) ** 2 + fxy**2)
    return eigen_nonconvex(mean - radius, mean + radius, ratio)


def eigen_nonconvex(lmin: np.ndarray, lmax: np.ndarray, ratio: float = RATIO) -> np.ndarray:
    """True where the smallest eigenvalue is negative and ``|lmin| > ratio * lmax`` (or ``lmax <= 0``)."""
    return (lmin < 0) & ((lmax <= 0) | (np.abs(lmin) > ratio * lmax))


def nonconvex_share(
    z: np.ndarray, x: np.ndarray, y: np.ndarray | None = None, radius: float = RADIUS
) -> dict[str, Any]:
    """Share of grid points within ``radius`` of the origin where the surface is not locally convex.

    Points whose finite-difference stencil touches a non-finite value are left out and counted apart.
    """
    if y is None:
        if len(x) < 3:
            return {"nonconvex_share": None, "points": 0, "skipped": 0}
        h = x[1] - x[0]
        curvature = (z[2:] - 2 * z[1:-1] + z[:-2]) / h**2
        inside = np.abs(x[1:-1]) <= radius
        bad = curvature < 0
    else:
        if len(x) < 3 or len(y) < 3:
            return {"nonconvex_share": None, "points": 0, "skipped": 0}
        fxx, fyy, fxy = grid_hessian(z, x, y)
        curvature = fxx + fyy + fxy
        xx, yy = np.meshgrid(x[1:-1], y[1:-1])
        inside = xx**2 + yy**2 <= radius**2
        bad = nonconvex_mask(fxx, fyy, fxy)
    finite = np.isfinite(curvature)
    considered = inside & finite
    n = int(considered.sum())
    share = float((bad & considered).sum() / n) if n else None
    return {"nonconvex_share": share, "points": n, "skipped": int((inside & ~finite).sum())}


def eig_nonconvex_share(
    min_eig: np.ndarray, max_eig: np.ndarray, x: np.ndarray, y: np.ndarray | None = None, radius: float = RADIUS
) -> dict[str, Any]:
    """Share of grid points within ``radius`` of the origin where the weight-space Hessian is not convex
    by :func:`eigen_nonconvex`; points without both eigenvalues are left out and counted apart."""
    r2 = x**2 if y is None else sum(np.meshgrid(x**2, y**2))
    inside = r2 <= radius**2
    finite = np.isfinite(min_eig) & np.isfinite(max_eig)
    considered = inside & finite
    n = int(considered.sum())
    bad = eigen_nonconvex(np.where(finite, min_eig, 0.0), np.where(finite, max_eig, 1.0))
    share = float((bad & considered).sum() / n) if n else None
    return {"nonconvex_share": share, "points": n, "skipped": int((inside & ~finite).sum())}


def landscape_stats(surface) -> dict[str, Any]:
    """Statistics stored in a finished surface's file: ``{"landscape_stats": {...}}``.

    The top-level share is the grid-based one (``method: grid``); with eigenvalue maps,
    ``hessian`` holds the share by the weight-space eigenvalues (``method: hessian``).
    """
    metric = next((m for m in ("train_loss", "test_loss") if m in surface.metrics), None)
    out: dict[str, Any] = {}
    if metric is not None:
        stats = nonconvex_share(surface.metrics[metric], surface.xcoordinates, surface.ycoordinates)
        out = {"method": "grid", "metric": metric, "radius": RADIUS, "ratio": RATIO, **stats}
    if "min_eig" in surface.metrics and "max_eig" in surface.metrics:
        eig = eig_nonconvex_share(
            surface.metrics["min_eig"], surface.metrics["max_eig"], surface.xcoordinates, surface.ycoordinates
        )
        out["hessian"] = {"method": "hessian", "metric": "|min_eig/max_eig|", "radius": RADIUS, "ratio": RATIO, **eig}
    return {"landscape_stats": out}
