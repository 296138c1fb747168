"""Executors: where the points of a surface are evaluated.

An executor takes a :class:`~workers.pointwork.PointWork` and the pending grid points, in the order
they should be computed (coarse to fine), evaluates them in chunks, and yields each chunk with its
values as it finishes. The caller (``compute_surface``) stays the only writer of the surface file, so
the file format, the ``done`` mask and resuming are the same whichever executor ran the points.

- :class:`LocalExecutor`: in this process, one point per chunk (the file is written after every point).
- ``RayExecutor`` (``workers/ray_executor.py``): on actors of a Ray cluster. It is imported only when
  asked for (``make_executor(ray=...)``), so the engine runs without Ray installed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch

from .pointwork import Coords, PointWork, evaluation_mode

Point = tuple[int, Coords]  # (flat grid index, coordinates)
Chunk = list[Point]
Results = Iterator[tuple[Chunk, list[dict[str, float]]]]


class Executor(Protocol):
    """Evaluates ``work`` at ``points``; yields ``(chunk, values)`` per finished chunk, in any order.

    Every point is yielded exactly once, unless ``should_stop`` (checked between chunks) returns True,
    which ends the iteration early. Closing the iterator stops all work still running.
    """

    description: str

    def map(self, work: PointWork, points: Sequence[Point], should_stop: Callable[[], bool] | None = None) -> Results: ...


def chunked(points: Sequence[Point], size: int) -> list[Chunk]:
    """``points`` cut into consecutive chunks of ``size`` (the last may be shorter), order kept."""
    if size < 1:
        raise ValueError(f"a chunk holds at least 1 point, got {size}")
    return [list(points[i : i + size]) for i in range(0, len(points), size)]


class LocalExecutor:
    """Evaluates the points in this process, one chunk after the other."""

    def __init__(self, device: str | torch.device = "cpu", chunk_points: int = 1):
        self.device = torch.device(device)
        self.chunk_points = chunk_points
        self.description = f"local ({self.device})"

    def map(self, work: PointWork, points: Sequence[Point], should_stop: Callable[[], bool] | None = None) -> Results:
        with evaluation_mode(work.fast):
            evaluate = work.start(self.device)
            for chunk in chunked(points, self.chunk_points):
                if should_stop is not None and should_stop():
                    return
                yield chunk, evaluate([coords for _, coords in chunk])


def make_executor(device: str | torch.device = "cpu", ray: str | None = None) -> Executor:
    """The local executor, or with ``ray`` (``"auto"`` or a cluster address) the Ray executor."""
    if ray is None:
        return LocalExecutor(device)
    from .ray_executor import RayExecutor

    return RayExecutor(ray, device)
