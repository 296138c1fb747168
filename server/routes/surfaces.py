"""/api/surfaces: the catalog, meshes, file download, import and deletion."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from workers import jobqueue

from .. import surface_import
from ..catalog import unreadable_reason
from ..deps import CatalogDep, EntryDep, QueueDep, SettingsDep, item_router, write_router
from ..paging import MAX_PAGE, Page, paging
from ..schemas import Error, Mesh, SurfaceList, SurfaceSummary
from ..uploads import saved_upload, upload_name, upload_refusals

router = APIRouter(prefix="/api/surfaces", tags=["surfaces"])
writes = write_router(router.prefix, router.tags)
one = item_router("surface")  # /{surface_id}...; included into `router` at the end
one_writes = item_router("surface")  # included into `writes` at the end


@router.get("", response_model=SurfaceList, summary="List surfaces (gallery and user), a page at a time")
def list_surfaces(
    catalog: CatalogDep,
    page: Annotated[Page, Depends(paging("surfaces", MAX_PAGE))],
    model: Annotated[str | None, Query(max_length=200, description="only surfaces of this model")] = None,
    dataset: Annotated[str | None, Query(max_length=200, description="only surfaces on this dataset")] = None,
) -> SurfaceList:
    """``limit`` surfaces after the first ``offset``, as GET /api/jobs pages (by default the most a page
    holds: one page for all but the largest catalogs); ``next_offset`` is where the next page starts."""
    surfaces, unreadable = catalog.listing(model, dataset)
    surfaces, next_offset = page.cut(surfaces[page.offset :])
    return SurfaceList(surfaces=surfaces, unreadable=unreadable, next_offset=next_offset)


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*") and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def _etag_matches(request: Request, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]
    return etag in tags or "*" in tags


@one.get(
    "/{surface_id}",
    response_model=Mesh,
    summary="The mesh of a surface (partial ones too)",
    responses={304: {"description": "unchanged since the ETag given in If-None-Match"}},
)
def get_mesh(entry: EntryDep, catalog: CatalogDep, request: Request) -> Response:
    try:
        mesh = catalog.mesh(entry)
    except FileNotFoundError:  # deleted since it was found
        raise HTTPException(404, f"no surface {entry.id!r}") from None
    except (OSError, ValueError) as e:
        raise HTTPException(409, f"surface {entry.id!r} cannot be read: {unreadable_reason(entry, e)}") from None
    headers = {"ETag": mesh.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if _etag_matches(request, mesh.etag):
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        return Response(mesh.gzip, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(mesh.json, media_type="application/json", headers=headers)


@one.get(
    "/{surface_id}/file",
    response_class=StreamingResponse,
    summary="Download the HDF5 surface file",
    responses={200: {"content": {"application/x-hdf5": {}}, "description": "the surface file"}},
)
def download(entry: EntryDep) -> StreamingResponse:
    """The file as it is now, whole: opened here and sent from that open file. A job rewriting the surface
    replaces its file with a new one, which the next download gets (a response that opened the file again
    by name got the next version after the size of this one: a broken download)."""
    try:
        file = entry.path.open("rb")
    except FileNotFoundError:  # deleted since it was found
        raise HTTPException(404, f"no surface {entry.id!r}") from None
    size = os.fstat(file.fileno()).st_size
    headers = {"Content-Length": str(size), "Content-Disposition": f'attachment; filename="{entry.id}.h5"'}
    return StreamingResponse(_chunks(file), media_type="application/x-hdf5", headers=headers)


def _chunks(file: BinaryIO, size: int = 2**16) -> Iterator[bytes]:
    with file:
        while chunk := file.read(size):
            yield chunk


@writes.post(
    "/import",
    status_code=201,
    response_model=SurfaceSummary,
    summary="Add an HDF5 surface file (lossatlas or the reference code's format)",
    responses={
        200: {
            "model": SurfaceSummary,
            "description": "a file of the same content imported before, under any name: that surface, unchanged "
            "(its name kept)",
        },
        **upload_refusals(
            "not a surface file, beyond a limit once read (max_upload_mb uncompressed, max_import_points)"
        ),
        503: {"model": Error, "description": "other imports are being checked; retry"},
    },
)
async def import_surface(
    file: Annotated[UploadFile, File(description="the .h5 surface file")],
    catalog: CatalogDep,
    queue: QueueDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> SurfaceSummary:
    """A surface's id is its title's slug and the start of its file's sha256. The same bytes imported again,
    under any file name, answer 200 with the surface imported first, its file and name unchanged."""
    stem = Path(upload_name(file) or "surface").stem
    async with saved_upload(file, settings.uploads_dir, ".h5") as tmp:
        gate = request.app.state.import_gate
        summary, added = await surface_import.import_surface(tmp, stem, catalog, queue, settings, gate)
    if not added:
        response.status_code = 200
    return summary


@one_writes.delete(
    "/{surface_id}",
    status_code=204,
    summary="Delete a user surface",
    responses={
        403: {"model": Error, "description": "a gallery surface (read-only)"},
        409: {"model": Error, "description": "a job is computing it; cancel the job first"},
    },
)
def delete_surface(entry: EntryDep, catalog: CatalogDep, queue: QueueDep) -> Response:
    if entry.source != "user":
        raise HTTPException(403, f"surface {entry.id!r} belongs to the read-only gallery and cannot be deleted")
    with queue.surface_lock(entry.id) as job:  # no job queued again meanwhile: its title would go too
        if job is not None and job.state in jobqueue.ACTIVE:
            raise HTTPException(409, f"job {job.id} is {job.state} on surface {entry.id!r}; cancel it first")
        catalog.delete(entry)
    return Response(status_code=204)


router.include_router(one)
writes.include_router(one_writes)
