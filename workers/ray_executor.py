"""The Ray executor: the points of one surface spread over the actors of a Ray cluster.

One actor per CPU slot (or per GPU with ``device="cuda"``) holds the work (model, directions,
samples) on its device. The work is put into the object store once and every actor reads it from
there when it starts, so nothing large travels per chunk: a chunk is a list of coordinates out and its
:class:`~workers.executors.ChunkValues` back (a metrics dict per point, and the tally of how they were
computed, such as the Hessian's Lanczos residuals, so that the file records them as a local run's does). Each actor has one chunk at a time, handed out in coarse-to-fine order; the
driver yields each chunk as it comes back (and ``compute_surface`` writes it to the file).

A lost actor or node: its chunk goes back to the front of the queue and runs on the next free actor,
and a new actor is started in its place (on another node if its node is gone; it waits for room in the
cluster if there is none), which gets work once it is up.
Values of a chunk are only ever taken from the one task that returned them, so no point is written
twice. Stopping (``should_stop``, or closing the iterator) kills the actors, ending their work.

Imported only when a caller asks for Ray: the engine runs without it (``pip install 'lossatlas[ray]'``).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
from collections.abc import Callable, Sequence

import torch

from .executors import Chunk, ChunkValues, Coords, Point, PointWork, Results, T, chunked, evaluation_mode

try:
    import ray
    from ray.exceptions import RayActorError
except ImportError:  # pragma: no cover - exercised only where Ray is missing
    ray = None

_WAIT_S = 0.5  # how often the driver looks at should_stop while chunks run
_MAX_LOST_ACTORS = 16  # then give up: something (memory?) kills every actor
# larger chunks save round trips but lose more work with a node, and refine the file in coarser steps
_MAX_CHUNK_POINTS = 8


def connect(address: str) -> None:
    """Join the Ray cluster at ``address``; ``"auto"``: the one ``ray start`` runs on this machine
    (or ``RAY_ADDRESS``), else a new local one. Nothing happens when this process already joined one."""
    if ray is None:
        raise ValueError("Ray is not installed; install it with pip install 'lossatlas[ray]' or run without --ray")
    if ray.is_initialized():
        return
    try:
        ray.init(address=None if address == "auto" else address, logging_level=logging.WARNING)
    except ConnectionError as e:
        raise ValueError(
            f"cannot reach the Ray cluster at {address} ({e}); check the address or use --ray auto"
        ) from None


class PointActor:
    """Holds one copy of the work, ready on its device, and evaluates chunks of points."""

    def __init__(self, work: PointWork, device: str):
        self._mode = contextlib.ExitStack()  # kept for the actor's lifetime: the process is the actor's alone
        self._mode.enter_context(evaluation_mode())
        self._evaluate = work.start(torch.device(device))

    def ready(self) -> bool:
        return True

    def evaluate(self, points: Sequence[Coords]) -> ChunkValues:
        return self._evaluate(points)


class RayExecutor:
    """Evaluates points on ``actors`` Ray actors (default: one per CPU, or per GPU with ``device="cuda"``).

    ``lost_chunks`` counts chunks that had to run again because their actor was lost.
    """

    def __init__(
        self,
        address: str = "auto",
        device: str | torch.device = "cpu",
        actors: int | None = None,
        chunk_points: int | None = None,
    ):
        self.address, self.device = address, torch.device(device)
        self.actors, self.chunk_points = actors, chunk_points
        self.lost_chunks = 0
        self.description = f"ray at {address} ({self.device})"

    def _slots(self) -> int:
        resources = ray.cluster_resources()
        if self.device.type == "cuda":
            gpus = int(resources.get("GPU", 0))
            if gpus < 1:
                raise ValueError(f"the Ray cluster at {self.address} has no GPU; run with --device cpu")
            return gpus
        return max(1, int(resources.get("CPU", 1)))

    def run_here(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` as a Ray task with an actor's resources (a GPU with ``device="cuda"``)."""
        connect(self.address)
        self._slots()  # refuses a device the cluster lacks (a task for it would wait forever)
        gpu = self.device.type == "cuda"
        return ray.get(ray.remote(fn).options(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0).remote(*args))

    def map(
        self, work: PointWork, levels: Sequence[Sequence[Point]], should_stop: Callable[[], bool] | None = None
    ) -> Results:
        count = sum(len(level) for level in levels)
        if not count:
            return
        connect(self.address)
        n = self.actors or self._slots()
        size = self.chunk_points or max(1, min(_MAX_CHUNK_POINTS, math.ceil(count / (4 * n))))
        todo = collections.deque(chunked(levels, size))
        n = min(n, len(todo))
        gpu = self.device.type == "cuda"
        actor_class = ray.remote(PointActor).options(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0)
        shared = ray.put(work)  # once: every actor reads the same object
        actors: list = []
        probes: dict = {}  # ready() task -> actor starting
        running: dict = {}  # evaluate() task -> (actor, chunk)
        idle: list = []

        def start_actor() -> None:
            if len(actors) >= n + _MAX_LOST_ACTORS:
                raise RuntimeError(f"{_MAX_LOST_ACTORS} Ray actors were lost; is the cluster running out of memory?")
            actor = actor_class.remote(shared, str(self.device))
            actors.append(actor)
            probes[actor.ready.remote()] = actor

        def dispatch() -> None:
            while idle and todo:
                actor, chunk = idle.pop(), todo.popleft()
                running[actor.evaluate.remote([coords for _, coords in chunk])] = (actor, chunk)

        try:
            for _ in range(n):
                start_actor()
            while todo or running:
                if should_stop is not None and should_stop():
                    return
                dispatch()
                finished, _ = ray.wait([*running, *probes], num_returns=1, timeout=_WAIT_S)
                results: list[tuple[Chunk, ChunkValues]] = []
                for task in finished:
                    if task in probes:
                        actor = probes.pop(task)
                        if self._alive(task):
                            idle.append(actor)
                        else:
                            start_actor()
                        continue
                    actor, chunk = running.pop(task)
                    if self._alive(task):
                        results.append((chunk, ray.get(task)))
                        idle.append(actor)
                    else:
                        self.lost_chunks += 1
                        todo.appendleft(chunk)
                        start_actor()
                dispatch()  # before handing results over: actors work while the caller writes the file
                yield from results
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            shared = None  # the object store may free the work once the actors are gone

    @staticmethod
    def _alive(task) -> bool:
        """False when ``task``'s actor died; an actor that cannot set up its work raises the error."""
        try:
            ray.get(task, timeout=0)
        except RayActorError as e:
            if e.actor_init_failed:
                raise ValueError(f"a Ray actor could not set up the work: {e}") from None
            return False
        return True
