"""The durable job queue: surface jobs in SQLite inside the data directory.

The server submits jobs; workers (any number of processes, on any machine that mounts the data
directory) claim them atomically with a lease that they keep renewing (heartbeat). A worker that dies
stops renewing; once its lease has expired another worker claims the job again and resumes the partial
surface file, so no finished point is lost or computed again. Every finished point is also recorded
as a row (which worker computed it, its values): the server streams these rows as progress events.

Fencing: every claim gives the job a new lease generation, and every worker-side call names the claim
it acts under (the :class:`Job` that :meth:`JobQueue.claim` returned). A worker that stalled past its
lease (paused, swapped out) and was replaced holds an old generation: its heartbeats, records and file
replacements (:meth:`JobQueue.fenced`) are refused, so it cannot overwrite what its successor wrote. A
file replacement holds its job's lock file (``flock``), and a claim takes a job only when it can take that
lock: a worker paused in the middle of a replacement holds up its own job, never the queue.

Layout of the data directory::

    jobs.sqlite3          this queue
    surfaces/<id>.h5      surface files (``Job.out`` is relative to the data directory)
    surfaces/<id>.meta.json  a surface's title, written by the submitter as its job is queued (see
                          :meth:`JobQueue.submit`), removed with a job that ended without a surface file
    locks/<job id>        the fences of queued and running jobs (empty files)

The queue knows nothing of HTTP; ``workers`` never imports ``server``.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .files import locked
from .h5io import default_dir_file, is_dir_file, read_dir_file
from .vocab import JobState as State

ACTIVE: tuple[State, ...] = ("queued", "running")
TERMINAL: tuple[State, ...] = ("done", "failed", "cancelled")
MAX_ATTEMPTS = 5  # claims of one job before it is failed: a job that kills its workers must not loop

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,              -- fingerprint of the request: identical requests share a job
    state TEXT NOT NULL,
    request TEXT NOT NULL,          -- JSON: the request as the client sent it (normalized)
    spec TEXT NOT NULL,             -- JSON: the SurfaceSpec the worker runs
    surface_id TEXT NOT NULL,
    out TEXT NOT NULL,              -- surface file, relative to the data directory
    points_done INTEGER NOT NULL DEFAULT 0,
    points_total INTEGER NOT NULL,
    rate REAL,
    eta REAL,
    error TEXT,
    worker TEXT,
    lease_until REAL,
    generation INTEGER NOT NULL DEFAULT 0,  -- incremented by every claim: the fencing token
    cost REAL,                      -- the submitter's estimate of the job's work (the server: TFLOP)
    negative_variance_points INTEGER,  -- of a done job: points NaN because a BatchNorm variance went negative
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (key);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
CREATE TABLE IF NOT EXISTS points (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    worker TEXT NOT NULL,
    ix INTEGER NOT NULL,
    iy INTEGER NOT NULL,
    metrics TEXT NOT NULL,          -- JSON {metric: value or null}
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS points_job ON points (job_id, seq);
"""


def title_path(surface: Path) -> Path:
    """The title file of surface file ``surface``: ``<id>.meta.json`` beside it."""
    return surface.with_name(surface.stem + ".meta.json")


def _dir_file_in_use(directions: Path) -> bool:
    """Whether a surface file in the direction file's directory names it as its ``dir_file`` (one that
    cannot be read counts as naming it: a direction file is never removed from under a surface). Reads
    each file's ``dir_file`` only: this runs in a transaction that holds up every other writer."""
    for path in directions.parent.glob("*.h5"):
        if is_dir_file(path) or path.name.startswith("."):
            continue
        try:
            named = read_dir_file(path)
        except Exception:  # any unreadable file: keep the direction file
            return True
        if named is not None and Path(named).name == directions.name:
            return True
    return False


class LeaseLost(Exception):
    """A worker acted under a claim that is no longer current (cancelled, or taken over by another worker)."""


class QueueFull(Exception):
    """Raised by :meth:`JobQueue.submit` when ``max_active`` jobs are already queued or running."""

    def __init__(self, active: int, limit: int):
        super().__init__(f"{'1 job is' if active == 1 else f'{active} jobs are'} queued or running")
        self.active, self.limit = active, limit


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: str
    key: str
    state: State
    request: dict[str, Any]
    spec: dict[str, Any]
    surface_id: str
    out: str
    points_done: int
    points_total: int
    rate: float | None
    eta: float | None
    error: str | None
    worker: str | None
    lease_until: float | None
    attempts: int
    created: float
    updated: float
    generation: int = 0
    cost: float | None = None
    negative_variance_points: int | None = None  # of a done job (see JobQueue.finish)
    previous_worker: str | None = None  # set by claim: who held the job before (it may have died)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["request"] = json.loads(data["request"])
        data["spec"] = json.loads(data["spec"])
        return cls(**data)


@dataclass(frozen=True)
class PointRow:
    """A finished point as recorded by the worker that computed it."""

    seq: int
    worker: str
    ix: int
    iy: int
    metrics: dict[str, float | None]


def _finite(value: float) -> float | None:
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


class JobQueue:
    """Jobs of one data directory. Each call opens its own connection, so one instance may be shared by
    threads, and any number of processes may use the same directory.

    ``clock``: the time in seconds since the epoch that this instance stamps jobs with and judges leases by
    (the same on every process of the directory: ``time.time``, unless a test moves time on by hand).
    """

    def __init__(self, root: str | Path, clock: Callable[[], float] = time.time):
        self.root = Path(root)
        self.clock = clock
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "jobs.sqlite3"
        (self.root / "locks").mkdir(exist_ok=True)  # the jobs' fences (see _job_lock)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            for column, kind in (
                ("generation", "INTEGER NOT NULL DEFAULT 0"),
                ("cost", "REAL"),
                ("negative_variance_points", "INTEGER"),
            ):
                if column not in columns:  # a queue made by an older version
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
            active = {r["id"] for r in db.execute("SELECT id FROM jobs WHERE state IN (?, ?)", ACTIVE)}
        for lock in (self.root / "locks").iterdir():  # fences left by jobs that ended before they were dropped
            if lock.name not in active:
                self._drop_fence(lock.name)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE): read-then-write steps are atomic."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _job_lock(self, job_id: str, wait: bool) -> Iterator[bool]:
        """Hold job ``job_id``'s fence while the body runs; yields False (and holds nothing) when another
        process holds it and ``wait`` is False (:func:`workers.files.locked`: a process that dies releases it;
        one waiting on a fence that :meth:`_drop_fence` removed ends up holding the file now at the path)."""
        with locked(self.root / "locks" / job_id, wait) as fd:
            yield fd is not None

    def _drop_fence(self, job_id: str) -> None:
        """Remove the lock file of a job that no worker may claim any more (done, failed, cancelled), so
        that ``locks/`` does not keep one file per job ever run, and when it ended without a surface file,
        its title file (:meth:`_drop_title`). Left in place while a (stalled) worker holds the lock (it may
        be writing the surface file), or when the job was queued again meanwhile; removed under the lock,
        which :meth:`_job_lock` notices, and in a transaction, so that a resubmission writing the title
        again (:meth:`submit`) comes wholly before or after."""
        with ExitStack() as fence, self._transaction() as db:
            row = db.execute("SELECT state, out FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is not None and row["state"] in ACTIVE:
                return
            if not fence.enter_context(self._job_lock(job_id, wait=False)):
                return
            (self.root / "locks" / job_id).unlink(missing_ok=True)
            if row is not None:
                self._drop_title(row["out"])

    def let_go(self, job_id: str) -> None:
        """Called by a worker that lost a job's claim: when the job was cancelled while the worker wrote
        its first point, the worker wrote its direction file after the cancel tidied up; tidy up again
        (:meth:`_drop_fence`: nothing happens while the job is active, under another worker say)."""
        self._drop_fence(job_id)

    def _drop_title(self, out: str) -> None:
        """Remove the title file of an ended job's surface when the job wrote no surface file: only the
        next job on that surface (asked again) needs it, and writes it again (run with the job's fence and
        in a transaction). So too its direction file, which a job writes just before its first point's
        surface file, and which is left alone when that write fails (a disk that stays full, the job
        cancelled meanwhile), unless another surface file beside it names it (:func:`_dir_file_in_use`)."""
        path = (self.root / out).resolve()
        if path.is_relative_to(self.root.resolve()) and not path.exists():
            title_path(path).unlink(missing_ok=True)
            directions = default_dir_file(path)
            if directions.exists() and not _dir_file_in_use(directions):
                directions.unlink(missing_ok=True)

    def surface_path(self, job: Job) -> Path:
        """The job's surface file, refused when it would lie outside the data directory."""
        path = (self.root / job.out).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"job {job.id}: surface file {job.out!r} lies outside the data directory")
        return path

    # -- server side ---------------------------------------------------------------------------

    def submit(
        self,
        key: str,
        request: dict,
        spec: dict,
        surface_id: str,
        out: str,
        total: int,
        max_active: int,
        cost: float | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job, or return the job of an identical earlier request.

        Returns ``(job, queued)``: ``queued`` is False when an existing queued, running or done job
        (whose surface file still exists) answers the request. A failed or cancelled job, or a done
        one whose surface was deleted, is queued again under this request (its name): it resumes its
        partial file, or, when the file is gone, starts again from no points (the points recorded of the
        file are dropped with it).
        Raises :class:`QueueFull` when a new job would exceed ``max_active`` queued or running jobs.
        ``on_queued`` runs when the job is queued, in the same transaction (the server writes the surface's
        title file): a surface deleted meanwhile (:meth:`surface_lock`) or the job's previous run ending
        (:meth:`_drop_fence`) cannot remove what it writes; when it raises, nothing is queued.
        """
        now = self.clock()
        with self._transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE key = ? ORDER BY created DESC LIMIT 1", (key,)).fetchone()
            if row is not None:
                job = Job.from_row(row)
                if job.state in ACTIVE or (job.state == "done" and (self.root / job.out).exists()):
                    return job, False
            active = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").fetchone()[0]
            if active >= max_active:
                raise QueueFull(active, max_active)
            if row is not None:
                job_id, done = row["id"], row["points_done"]
                if not (self.root / row["out"]).exists():
                    db.execute("DELETE FROM points WHERE job_id = ?", (job_id,))
                    done = 0
                db.execute(
                    "UPDATE jobs SET state = 'queued', request = ?, spec = ?, points_done = ?, points_total = ?, "
                    "cost = COALESCE(?, cost), error = NULL, worker = NULL, lease_until = NULL, attempts = 0, "
                    "rate = NULL, eta = NULL, negative_variance_points = NULL, updated = ? WHERE id = ?",
                    (json.dumps(request), json.dumps(spec), done, total, cost, now, job_id),
                )
            else:
                job_id = uuid.uuid4().hex[:16]
                db.execute(
                    "INSERT INTO jobs (id, key, state, request, spec, surface_id, out, points_total, cost, created, "
                    "updated) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, key, json.dumps(request), json.dumps(spec), surface_id, out, total, cost, now, now),
                )
            if on_queued is not None:
                on_queued()
            return Job.from_row(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()), True

    def get(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row is not None else None

    def list(self, limit: int = 200, offset: int = 0) -> list[Job]:
        """Newest first (jobs created at the same time in the order of submission), from ``offset`` on."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [Job.from_row(r) for r in rows]

    def for_surface(self, surface_id: str) -> Job | None:
        """The job writing ``surface_id``: the queued or running one if any, else the newest; None when no
        job ever wrote it (an imported surface)."""
        with self._connect() as db:
            return self._for_surface(db, surface_id)

    @staticmethod
    def _for_surface(db: sqlite3.Connection, surface_id: str) -> Job | None:
        row = db.execute(
            "SELECT * FROM jobs WHERE surface_id = ? ORDER BY state IN ('queued', 'running') DESC, created DESC LIMIT 1",
            (surface_id,),
        ).fetchone()
        return Job.from_row(row) if row is not None else None

    @contextmanager
    def surface_lock(self, surface_id: str) -> Iterator[Job | None]:
        """Hold the queue's write lock while the body runs, with the job of ``surface_id``
        (:meth:`for_surface`): no job is submitted, queued again, claimed or ended meanwhile, so the body
        may remove the surface's files when that job is not active, and a resubmission's title file, written
        as its job is queued, cannot go with them."""
        with self._transaction() as db:
            yield self._for_surface(db, surface_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a running one stops at its next point); other states are
        left as they are. Returns the job, or None when there is no such job."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = 'cancelled', rate = NULL, eta = NULL, lease_until = NULL, updated = ? "
                "WHERE id = ? AND state IN ('queued', 'running')",
                (self.clock(), job_id),
            )
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        if row["state"] not in ACTIVE:
            self._drop_fence(job_id)
        return Job.from_row(row)

    def points_since(self, job_id: str, seq: int = 0) -> list[PointRow]:
        """Points recorded for a job after ``seq``, in order."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT seq, worker, ix, iy, metrics FROM points WHERE job_id = ? AND seq > ? ORDER BY seq",
                (job_id, seq),
            ).fetchall()
        return [PointRow(r["seq"], r["worker"], r["ix"], r["iy"], json.loads(r["metrics"])) for r in rows]

    def computed_by(self, job_id: str) -> dict[str, int]:
        """How many points of a job each worker computed."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT worker, COUNT(*) AS n FROM points WHERE job_id = ? GROUP BY worker", (job_id,)
            ).fetchall()
        return {r["worker"]: r["n"] for r in rows}

    # -- worker side ---------------------------------------------------------------------------
    #
    # ``claim`` returns the Job a worker then passes to every other call: its id, worker and lease
    # generation name the claim; a call under a claim that is no longer current changes nothing.

    _HELD = "id = ? AND worker = ? AND generation = ? AND state = 'running'"

    @staticmethod
    def _held(claim: Job) -> tuple[str, str | None, int]:
        return claim.id, claim.worker, claim.generation

    def claim(self, worker: str, lease_s: float) -> Job | None:
        """Take the oldest queued job, or a running one whose worker's lease expired."""
        now = self.clock()
        # the fence of the job taken is held until the new generation is committed (the stack closes last)
        with ExitStack() as fences, self._transaction() as db:
            candidates = db.execute(
                "SELECT * FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_until < ?) "
                "ORDER BY created, rowid",
                (now,),
            )
            # a job whose fence is held has a stalled worker in the middle of replacing its file: skip it
            row = next((r for r in candidates if fences.enter_context(self._job_lock(r["id"], wait=False))), None)
            if row is None:
                return None
            if row["attempts"] >= MAX_ATTEMPTS:
                db.execute(
                    "UPDATE jobs SET state = 'failed', error = ?, lease_until = NULL, updated = ? WHERE id = ?",
                    (f"gave up after {MAX_ATTEMPTS} workers stopped while running this job", now, row["id"]),
                )
                (self.root / "locks" / row["id"]).unlink(missing_ok=True)  # its fence is held here
                self._drop_title(row["out"])
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', worker = ?, lease_until = ?, attempts = attempts + 1, "
                "generation = generation + 1, updated = ? WHERE id = ?",
                (worker, now + lease_s, now, row["id"]),
            )
            job = Job.from_row(db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())
        return replace(job, previous_worker=row["worker"])

    def heartbeat(self, claim: Job, lease_s: float) -> bool:
        """Renew the lease; False when the claim is no longer current (cancelled, or re-claimed by another
        worker after this one stalled): then the worker must stop."""
        with self._connect() as db:
            cur = db.execute(
                f"UPDATE jobs SET lease_until = ? WHERE {self._HELD}", (self.clock() + lease_s, *self._held(claim))
            )
        return cur.rowcount == 1

    def record(
        self,
        claim: Job,
        lease_s: float,
        done: int,
        total: int,
        rate: float | None,
        eta: float | None,
        points: list[tuple[int, int, dict[str, float]]],
        worker: str | None = None,
    ) -> bool:
        """Record finished points and progress, and renew the lease; False as for :meth:`heartbeat`.

        The points are recorded even then, when the claim was current as they were written to the surface
        file (a cancelled job's last point). ``worker``: who computed them (default: the claim's worker).
        """
        now = self.clock()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO points (job_id, worker, ix, iy, metrics, time) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        claim.id,
                        worker or claim.worker,
                        ix,
                        iy,
                        json.dumps({k: _finite(v) for k, v in values.items()}),
                        now,
                    )
                    for ix, iy, values in points
                ],
            )
            db.execute(
                "UPDATE jobs SET points_done = ?, points_total = ?, updated = ? "
                "WHERE id = ? AND worker = ? AND generation = ?",
                (done, total, now, *self._held(claim)),
            )
            cur = db.execute(
                f"UPDATE jobs SET rate = ?, eta = ?, lease_until = ? WHERE {self._HELD}",
                (rate, eta, now + lease_s, *self._held(claim)),
            )
        return cur.rowcount == 1

    @contextmanager
    def fenced(self, claim: Job, lease_s: float) -> Iterator[None]:
        """Run the body (a file replacement) only while ``claim`` is current, holding the job's fence so
        that no other worker can claim the job meanwhile; renews the lease. Raises :class:`LeaseLost` (the
        body does not run) when the claim is no longer current."""
        with self._job_lock(claim.id, wait=True):
            with self._connect() as db:
                cur = db.execute(
                    f"UPDATE jobs SET lease_until = ? WHERE {self._HELD}", (self.clock() + lease_s, *self._held(claim))
                )
            if cur.rowcount != 1:
                raise LeaseLost(
                    f"job {claim.id}: the claim of worker {claim.worker} "
                    f"(lease generation {claim.generation}) is no longer current"
                )
            yield

    def finish(
        self,
        claim: Job,
        state: State,
        error: str | None = None,
        done: int | None = None,
        negative_variance_points: int | None = None,
    ) -> bool:
        """End this claim's job as done or failed; False when the claim was no longer current.
        ``negative_variance_points``: of a done job, how many of its points are NaN because its directions
        move a BatchNorm running variance below zero (its surface file's attribute of that name)."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE jobs SET state = ?, error = ?, points_done = COALESCE(?, points_done), rate = NULL, "
                f"eta = NULL, lease_until = NULL, negative_variance_points = ?, updated = ? WHERE {self._HELD}",
                (state, error, done, negative_variance_points, self.clock(), *self._held(claim)),
            )
        if cur.rowcount == 1:
            self._drop_fence(claim.id)
        return cur.rowcount == 1

    def release(self, claim: Job) -> bool:
        """Give a running job back to the queue (a worker shutting down): the next worker resumes it."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL, rate = NULL, eta = NULL, "
                f"attempts = MAX(attempts - 1, 0), updated = ? WHERE {self._HELD}",
                (self.clock(), *self._held(claim)),
            )
        return cur.rowcount == 1
