"""/api/jobs: submit, list, inspect and cancel surface jobs; progress as server-sent events."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from workers import SurfaceSpec, jobqueue, negative_variance_words

from ..deps import CheckpointsDep, QueueDep, SettingsDep, item_router, write_router
from ..echo import echo
from ..feeds import Feeds
from ..paging import Page, paging
from ..schemas import STORED, Error, Job, JobList, JobRequest, ProgressEvent, ProgressPoint
from ..submission import submit_job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
writes = write_router(router.prefix, router.tags)
one = item_router("job")  # /{job_id}...; included into `router` at the end
one_writes = item_router("job")  # included into `writes` at the end
PAGE = 200  # jobs per page of GET /api/jobs by default


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def job_warnings(job: jobqueue.Job) -> list[str]:
    """What the user of a done job should know of its surface."""
    nan_points = job.negative_variance_points
    if not nan_points:
        return []
    metrics = SurfaceSpec.model_validate(job.spec).metrics
    return [f"{negative_variance_words(nan_points, job.points_total, metrics)}. Those points are null in the mesh."]


def public_job(job: jobqueue.Job, existing: bool = False) -> Job:
    running = job.state == "running"
    return Job(
        existing=existing,
        warnings=job_warnings(job),
        id=job.id,
        state=job.state,
        points_done=job.points_done,
        points_total=job.points_total,
        rate=job.rate if running else None,
        eta=job.eta if running else None,
        error=job.error,
        cost_tflop=job.cost,
        surface_id=job.surface_id,
        url=f"/api/jobs/{job.id}",
        created=_iso(job.created),
        updated=_iso(job.updated),
        request=JobRequest.model_validate(job.request, context=STORED),  # jobs of older versions too
    )


def get_job(
    job_id: Annotated[str, Path(description="a job's id (from POST /api/jobs or GET /api/jobs)")], queue: QueueDep
) -> jobqueue.Job:
    job = queue.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {echo(job_id)!r}")
    return job


JobDep = Annotated[jobqueue.Job, Depends(get_job)]


@writes.post(
    "",
    status_code=202,
    response_model=Job,
    summary="Queue a surface job",
    responses={
        200: {
            "model": Job,
            "description": "an identical request's existing job (existing: true), its name kept (request.name)",
        },
        404: {"model": Error, "description": "unknown checkpoint"},
        409: {"model": Error, "description": "the dataset's data is missing on the server"},
        422: {"model": Error, "description": "invalid request or beyond a limit"},
        429: {"model": Error, "description": "too many jobs queued (max_queued_jobs)"},
        507: {"model": Error, "description": "the data directory is (nearly) full (min_free_mb)"},
    },
)
def submit(
    request: JobRequest, response: Response, queue: QueueDep, settings: SettingsDep, checkpoints: CheckpointsDep
) -> Job:
    job, queued = submit_job(request, settings, queue, checkpoints)
    if not queued:
        response.status_code = 200
    return public_job(job, existing=not queued)


@router.get("", response_model=JobList, summary="List jobs, newest first, a page at a time")
def list_jobs(queue: QueueDep, page: Annotated[Page, Depends(paging("jobs", PAGE))]) -> JobList:
    """The newest ``limit`` jobs after the first ``offset``; ``next_offset`` is where the next page starts
    (null on the last). Jobs submitted while paging shift later pages: a job may show up twice."""
    jobs, next_offset = page.cut(queue.list(page.limit + 1, page.offset))  # one more: whether there is a next page
    return JobList(jobs=[public_job(j) for j in jobs], next_offset=next_offset)


@one.get("/{job_id}", response_model=Job, summary="A job's state and progress")
def get_one(job: JobDep) -> Job:
    return public_job(job)


@one_writes.delete(
    "/{job_id}",
    response_model=Job,
    summary="Cancel a job (keeps its partial surface)",
    responses={409: {"model": Error, "description": "the job has ended"}},
)
def cancel(job: JobDep, queue: QueueDep) -> Job:
    now = queue.cancel(job.id)  # its state after the cancel: it may have ended since `job` was read
    if now.state in ("done", "failed"):
        raise HTTPException(409, f"job {job.id} has already ended ({now.state}); nothing to cancel")
    return public_job(now)


def last_seen(
    last_event_id: Annotated[
        str | None, Header(description="the id of the last event seen, to resume a stream (browsers send it)")
    ] = None,
) -> int:
    """The sequence number a reconnecting client saw last (0: none); 400 for anything but one. A
    dependency: it must answer before the event stream's 200 has started."""
    if last_event_id is None or last_event_id == "":
        return 0
    if not re.fullmatch(r"[0-9]{1,18}", last_event_id):
        raise HTTPException(
            400,
            f"Last-Event-ID must be the id of an event of this stream (a number), "
            f"not {echo(last_event_id)!r}; leave it out to start from the beginning",
        )
    return int(last_event_id)


@one.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={400: {"model": Error, "description": "a malformed Last-Event-ID"}},
    summary="Progress as server-sent events: `progress` (ProgressEvent) and `state` (Job)",
)
async def events(
    job: JobDep, request: Request, seq: Annotated[int, Depends(last_seen)]
) -> AsyncIterable[ServerSentEvent]:
    """The first ``progress`` event carries every point finished so far (after ``Last-Event-ID`` when a
    client reconnects), later ones the newly finished points; the stream ends after a terminal state.
    All streams of a job share one reader of the queue (:mod:`server.feeds`)."""
    feeds: Feeds = request.app.state.feeds
    last_state, last_done, version = None, -1, 0
    async with feeds.follow(job.id) as feed:
        while True:
            await feed.changed_since(version)
            version, current = feed.version, feed.job
            rows = feed.rows_after(seq)
            if rows or current.points_done != last_done:
                seq = rows[-1].seq if rows else seq
                last_done = current.points_done
                running = current.state == "running"
                yield ServerSentEvent(
                    event="progress",
                    id=str(seq),
                    data=ProgressEvent(
                        points_done=current.points_done,
                        points_total=current.points_total,
                        rate=current.rate if running else None,
                        eta=current.eta if running else None,
                        points=[ProgressPoint(ix=r.ix, iy=r.iy, values=r.metrics) for r in rows],
                    ),
                )
            if current.state != last_state:
                last_state = current.state
                yield ServerSentEvent(event="state", data=public_job(current))
            if current.state in jobqueue.TERMINAL:
                return


router.include_router(one)
writes.include_router(one_writes)
