"""Grid axes and the coarse-to-fine order in which grid points are evaluated.

Evaluating a regular subgrid first, then ever finer ones, makes a partial surface file a useful
low-resolution surface at any moment (the viewer shows it refining; an interrupted job still shows
the whole range).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Axis:
    """``num`` evenly spaced coordinates from ``min`` to ``max`` inclusive."""

    min: float
    max: float
    num: int

    def __post_init__(self) -> None:
        if not (np.isfinite(self.min) and np.isfinite(self.max)):
            raise ValueError(f"axis ends must be finite numbers, got {self.min}:{self.max}")
        if self.num < 1:
            raise ValueError(f"axis {self} has no points: its num (the last number) must be 1 or more, e.g. -1:1:51")
        if self.num > 1 and not self.min < self.max:
            raise ValueError(f"axis min must be below max, got {self.min}:{self.max}")
        if not np.isfinite(float(self.max) - float(self.min)):
            raise ValueError(f"axis {self.min:g}:{self.max:g} spans more than a float64 holds; choose closer ends")

    @classmethod
    def parse(cls, text: str) -> Axis:
        """Parse ``'min:max:num'``, e.g. ``'-1:1:51'``."""
        parts = str(text).split(":")
        if len(parts) != 3:
            raise ValueError(f"axis {text!r} is not min:max:num (for example -1:1:51)")
        try:
            lo, hi, num = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"axis {text!r} is not min:max:num with numbers (for example -1:1:51)") from None
        return cls(lo, hi, num)

    def coordinates(self) -> np.ndarray:
        return np.linspace(self.min, self.max, self.num)

    def __str__(self) -> str:
        return f"{self.min:g}:{self.max:g}:{self.num}"


def level_indices(n: int, level: int) -> np.ndarray:
    """Indices of an axis of ``n`` points present at ``level`` (2**level + 1 points, ends included)."""
    m = min(n, 2**level + 1)
    return np.unique(np.round(np.linspace(0, n - 1, m)).astype(np.int64))


def coarse_to_fine(nx: int, ny: int = 1) -> list[np.ndarray]:
    """Flat indices (``iy * nx + ix``) of a ``ny x nx`` grid, grouped by refinement level.

    Level k holds the points of the subgrid with ``2**k + 1`` points per axis (capped at the axis
    length) not already in an earlier level; row-major within a level. Every index appears exactly
    once over all levels.
    """
    seen = np.zeros(nx * ny, dtype=bool)
    levels = []
    level = 0
    while not seen.all():
        ix, iy = level_indices(nx, level), level_indices(ny, level)
        flat = (iy[:, None] * nx + ix[None, :]).ravel()
        new = flat[~seen[flat]]
        seen[new] = True
        if new.size:
            levels.append(new)
        level += 1
    return levels
