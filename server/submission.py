"""Queueing a surface job: the one place that decides where its surface goes, its title and its sidecar."""

from __future__ import annotations

from fastapi import HTTPException

from workers import JobQueue, QueueFull, jobqueue

from .catalog import write_meta
from .jobspec import build_spec, request_key, surface_ids_for
from .schemas import JobRequest
from .settings import Settings
from .storage import refuse_when_full
from .uploads import CheckpointStore


def job_title(request: JobRequest) -> str:
    return request.name or f"{request.model} on {request.dataset} ({request.split})"


def _free_for(queue: JobQueue, surface_id: str, key: str) -> bool:
    """Whether the job of request ``key`` may write surface ``surface_id``: no job of another request does
    (it would write the same file, and its title would be this job's)."""
    job = queue.for_surface(surface_id)
    return job is None or job.key == key


def submit_job(
    request: JobRequest, settings: Settings, queue: JobQueue, checkpoints: CheckpointStore
) -> tuple[jobqueue.Job, bool]:
    """Queue ``request`` (checked against the server's limits); ``(job, False)`` when an identical request
    already has a job. A new job's surface goes to ``settings.surfaces_dir``, its title beside it."""
    spec, checkpoint_sha, cost = build_spec(request, settings, checkpoints)
    refuse_when_full(settings)
    key = request_key(request, checkpoint_sha)
    surface_id = next(i for i in surface_ids_for(request, key) if _free_for(queue, i, key))
    path = settings.surfaces_dir / f"{surface_id}.h5"
    out = path.relative_to(settings.data_dir).as_posix()  # workers resolve it in their data directory
    try:
        job, queued = queue.submit(
            key,
            request.model_dump(mode="json"),
            spec.model_dump(mode="json"),
            surface_id,
            out,
            spec.num_points,
            settings.max_queued_jobs,
            round(cost, 6),
            on_queued=lambda: write_meta(path, job_title(request), request.dataset),
        )
    except QueueFull as e:
        raise HTTPException(
            429, f"{e}, the server's limit max_queued_jobs={e.limit}; wait for one to finish or cancel one"
        ) from None
    return job, queued
