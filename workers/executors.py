"""Executors: where the points of a surface are evaluated.

An executor takes a :class:`PointWork` and the pending grid points, in the order
they should be computed (coarse to fine), evaluates them in chunks, and yields each chunk with its
values as it finishes. The caller (``compute_surface``) stays the only writer of the surface file, so
the file format, the ``done`` mask and resuming are the same whichever executor ran the points.

- :class:`LocalExecutor`: in this process, a chunk being the points the evaluator takes in one pass
  (one on CPUs: the file is written after every point).
- ``RayExecutor`` (``workers/ray_executor.py``): on actors of a Ray cluster. It is imported only when
  asked for (``make_executor(ray=...)``), so the engine runs without Ray installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import torch

from .nnpack import quiet_nnpack

Coords = tuple[float, ...]  # (x,) or (x, y)
Point = tuple[int, Coords]  # (flat grid index, coordinates)
T = TypeVar("T")
Chunk = list[Point]


@dataclass
class ChunkValues:
    """A chunk's results: one metrics dict per point, in order, and ``tally``: figures of how they were
    computed, taken in the process that computed them, that the caller adds to the file (the Hessian's
    products and largest Lanczos residual: :func:`workers.hessian.add_tally`)."""

    values: list[dict[str, float]]
    tally: dict[str, float] = field(default_factory=dict)


PointFn = Callable[[Sequence[Coords]], ChunkValues]
Results = Iterator[tuple[Chunk, ChunkValues]]


class PointWork(Protocol):
    """Picklable work at grid points (``workers.surface.GridWork``: loss and accuracy, and the Hessian's
    eigenvalues when asked). ``start(device)`` prepares it in the process that runs it and returns a
    function from a chunk of coordinates to its :class:`ChunkValues`; ``chunk_points`` is how many
    points it evaluates together best in this process."""

    chunk_points: int

    def start(self, device: torch.device) -> PointFn: ...


def _denormals_flushed() -> bool:
    """Whether torch flushes denormals now (torch offers no getter: a denormal times one tells)."""
    return (torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0


@contextlib.contextmanager
def evaluation_mode() -> Iterator[None]:
    """The process-wide torch setting points are evaluated under, restored on exit: denormals flushed
    (denormal activations slow CPU kernels; TF32 is the evaluator's own business, per pass). A Ray actor
    enters this for its lifetime, so its points are computed exactly as the local engine's; NNPACK, where
    it cannot run, is kept from saying so on the terminal (:func:`~workers.nnpack.quiet_nnpack`)."""
    quiet_nnpack()
    flushing = _denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(flushing)


class Executor(Protocol):
    """Evaluates ``work`` at ``levels`` (the pending points, grouped by coarse-to-fine level); yields
    ``(chunk, values)`` per finished chunk, in any order.

    Every point is yielded exactly once, unless ``should_stop`` (checked between chunks) returns True,
    which ends the iteration early. Closing the iterator stops all work still running.
    """

    description: str

    def map(
        self, work: PointWork, levels: Sequence[Sequence[Point]], should_stop: Callable[[], bool] | None = None
    ) -> Results: ...

    def run_here(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` in a process like those that evaluate the points (with their device)."""
        ...


def chunked(levels: Sequence[Sequence[Point]], size: int) -> list[Chunk]:
    """The points of each level cut into consecutive chunks of ``size`` (a level's last chunk may be
    shorter), order kept; a chunk never mixes levels, so the file refines one level after the other."""
    if size < 1:
        raise ValueError(f"a chunk holds at least 1 point, got {size}")
    return [list(level[i : i + size]) for level in levels for i in range(0, len(level), size)]


class LocalExecutor:
    """Evaluates the points in this process, one chunk after the other."""

    def __init__(self, device: str | torch.device = "cpu", chunk_points: int | None = None):
        self.device = torch.device(device)
        self.chunk_points = chunk_points
        self.description = f"local ({self.device})"

    def map(
        self, work: PointWork, levels: Sequence[Sequence[Point]], should_stop: Callable[[], bool] | None = None
    ) -> Results:
        with evaluation_mode():
            evaluate = work.start(self.device)
            for chunk in chunked(levels, self.chunk_points or work.chunk_points):
                if should_stop is not None and should_stop():
                    return
                yield chunk, evaluate([coords for _, coords in chunk])

    def run_here(self, fn: Callable[..., T], *args) -> T:
        return fn(*args)


def make_executor(device: str | torch.device = "cpu", ray: str | None = None) -> Executor:
    """The local executor, or with ``ray`` (``"auto"`` or a cluster address) the Ray executor."""
    if ray is None:
        return LocalExecutor(device)
    from .ray_executor import RayExecutor

    return RayExecutor(ray, device)
