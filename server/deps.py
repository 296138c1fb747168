"""Dependencies shared by the routes: settings, catalog, job queue, checkpoint store, bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from workers import JobQueue, jobqueue

from .auth import token_refusal
from .catalog import Catalog, Entry
from .echo import echo
from .schemas import Error
from .settings import Settings
from .strict import known_body
from .uploads import CheckpointStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


def get_checkpoints(request: Request) -> CheckpointStore:
    return request.app.state.checkpoints


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
CheckpointsDep = Annotated[CheckpointStore, Depends(get_checkpoints)]

_bearer = HTTPBearer(auto_error=False, description="required by write endpoints when the server has a token")


def require_token(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],  # the token in the schema
) -> None:
    """Write endpoints: 401 unless the configured bearer token is presented (no token configured: open).
    :class:`server.auth.AuthGate` has already refused such requests before their body; this documents the
    token in the schema and guards a route mounted elsewhere."""
    refusal = token_refusal(settings, request.headers.get("authorization"))
    if refusal is not None:
        raise HTTPException(401, refusal, headers={"WWW-Authenticate": "Bearer"})


Authorized = [Depends(require_token)]


def write_router(prefix: str, tags: list[str]) -> APIRouter:
    """A resource's write endpoints: the token required and its 401 documented once for all of them; a form
    field they do not take, or a name given twice, refused (:mod:`server.strict`)."""
    return APIRouter(
        prefix=prefix,
        tags=tags,
        dependencies=[*Authorized, Depends(known_body)],
        responses={401: {"model": Error, "description": "no or a wrong bearer token"}},
    )


def item_router(noun: str) -> APIRouter:
    """The routes on one item of a resource (their paths start with its id): the 404 of an unknown id
    documented once for all of them. Include it into the resource's router after its routes are added."""
    return APIRouter(responses={404: {"model": Error, "description": f"no such {noun}"}})


def get_entry(
    surface_id: Annotated[str, Path(description="a surface's id (see GET /api/surfaces)")],
    catalog: CatalogDep,
    queue: QueueDep,
) -> Entry:
    """The surface named in the path, or 404 (naming its job when the job has not written it: not started
    yet, failed or cancelled first)."""
    entry = catalog.get(surface_id)
    if entry is not None:
        return entry
    job = queue.for_surface(surface_id)
    if job is None or job.state == "done":  # none, or deleted since
        raise HTTPException(404, f"no surface {echo(surface_id)!r}")
    see = f"/api/jobs/{job.id}"
    if job.state in jobqueue.ACTIVE:
        raise HTTPException(404, f"surface {surface_id!r} has no points yet: its job is {job.state} (see {see})")
    if job.state == "failed":
        raise HTTPException(404, f"surface {surface_id!r} has no points: its job failed (see {see}): {job.error}")
    raise HTTPException(404, f"surface {surface_id!r} has no points: its job was cancelled (see {see})")


EntryDep = Annotated[Entry, Depends(get_entry)]
