"""Progress of followed jobs: one poller per job, shared by all of its event streams.

Each stream polling the queue itself made 200 open streams cost 1,600 SQLite reads a second and filled
the thread pool (the first event took 9 s, the job ran 3x slower). A :class:`JobFeed` reads the job and
its new points once per ``poll_s`` for however many streams follow it, keeps the points in memory while
anyone follows, and stops when the last stream goes or the job ends.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi.concurrency import run_in_threadpool

from workers import JobQueue, PointRow, jobqueue


class JobFeed:
    """The latest state of one job and every point recorded for it, updated by one task."""

    def __init__(self, queue: JobQueue, job_id: str, poll_s: float):
        self.queue, self.job_id, self.poll_s = queue, job_id, poll_s
        self.job: jobqueue.Job | None = None
        self.rows: list[PointRow] = []
        self.seqs: list[int] = []  # the rows' sequence numbers, for bisection
        self.version = 0  # bumped on every change
        self.followers = 0
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._poll(), name=f"feed-{job_id}")

    async def _poll(self) -> None:
        while True:
            job = await run_in_threadpool(self.queue.get, self.job_id)  # before the points: none missed at the end
            after = self.rows[-1].seq if self.rows else 0
            rows = await run_in_threadpool(self.queue.points_since, self.job_id, after)
            if rows or job != self.job:
                self.rows += rows
                self.seqs += [r.seq for r in rows]
                self.job = job
                self.version += 1
                self._changed.set()
                self._changed = asyncio.Event()
            if job is None or job.state in jobqueue.TERMINAL:
                return
            await asyncio.sleep(self.poll_s)

    async def changed_since(self, version: int) -> None:
        """Return once the feed is newer than ``version`` (at once if it is already)."""
        while self.version <= version:
            if self.task.done():
                self.task.result()  # a failed poll raises here
                return
            await self._changed.wait()

    def rows_after(self, seq: int) -> list[PointRow]:
        return self.rows[bisect.bisect_right(self.seqs, seq) :]


class Feeds:
    """The feeds of the jobs being followed now (one per app)."""

    def __init__(self, queue: JobQueue, poll_s: float):
        self.queue, self.poll_s = queue, poll_s
        self.active: dict[str, JobFeed] = {}

    @asynccontextmanager
    async def follow(self, job_id: str) -> AsyncIterator[JobFeed]:
        feed = self.active.get(job_id)
        if feed is None or feed.task.done():  # ended (the job ended; or re-queued since): read it afresh
            feed = self.active[job_id] = JobFeed(self.queue, job_id, self.poll_s)
        feed.followers += 1
        try:
            yield feed
        finally:
            feed.followers -= 1
            if feed.followers == 0 and self.active.get(job_id) is feed:
                del self.active[job_id]
                feed.task.cancel()
