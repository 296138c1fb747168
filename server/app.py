"""The FastAPI application: assembles routers, dependencies' state, the body limit and the embedded
worker. Run it with ``lossatlas serve``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from workers import JobQueue, __version__

from .auth import AuthGate
from .catalog import Catalog
from .echo import echo
from .embedded import keep_worker, start_worker, stop_worker
from .feeds import Feeds
from .head import HeadAsGet
from .invalid import allowed_methods, invalid_line, worded
from .limits import BodyLimit
from .routes import checkpoints, config, jobs, page, surfaces
from .schemas import ProgressEvent
from .settings import Settings, settings_from_env
from .storage import STORAGE_ERRORS, storage_error
from .strict import known_query
from .surface_import import ImportGate
from .target import OriginForm
from .uploads import CheckpointStore, clear_tmp

EVENT_POLL_S = 0.25  # how often a followed job is read for its progress events


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or settings_from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        clear_tmp(settings.uploads_dir)
        worker = [start_worker(settings)] if settings.embedded_worker else []  # the running one; keep_worker swaps it
        keeper = asyncio.create_task(keep_worker(settings, worker)) if worker else None
        try:
            yield
        finally:
            if keeper is not None:
                keeper.cancel()
            for proc in worker:
                stop_worker(proc)

    app = FastAPI(
        title="lossatlas",
        version=__version__,
        lifespan=lifespan,
        description="Loss landscapes of neural networks: browse surfaces, compute new ones on workers.",
        redirect_slashes=False,  # a path with a trailing slash: a 404 naming the path without (server.invalid)
        dependencies=[Depends(known_query)],
        docs_url=None,  # served by routes/page.py from local files
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalog = Catalog(settings.gallery_dir, settings.surfaces_dir)
    app.state.queue = JobQueue(settings.data_dir)
    app.state.checkpoints = CheckpointStore(settings.checkpoints_dir)
    app.state.import_gate = ImportGate()
    app.state.feeds = Feeds(app.state.queue, EVENT_POLL_S)
    app.state.templates = Jinja2Templates(directory=settings.frontend_dir)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": invalid_line(request, exc.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return await http_exception_handler(request, worded(request, exc))

    for error in STORAGE_ERRORS:
        app.add_exception_handler(error, storage_error)

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        allow = ", ".join(allowed_methods(request.app, request.scope))
        return JSONResponse(
            {"detail": f"{echo(request.method)} is not allowed on {echo(request.url.path)}; use {allow}"},
            status_code=405,
            headers={"Allow": allow},
        )

    app.add_middleware(BodyLimit, limit_mb=settings.max_upload_mb)
    app.add_middleware(AuthGate, settings=settings)  # runs before any body is read
    app.add_middleware(HeadAsGet)  # HEAD is a GET to everything after it
    app.add_middleware(OriginForm)  # added last: runs first, so everything after it sees the path asked for
    for module in (config, surfaces, jobs, checkpoints, page):
        app.include_router(module.router)
    for module in (surfaces, jobs, checkpoints):
        app.include_router(module.writes)
    app.mount("/static", StaticFiles(directory=settings.frontend_dir, check_dir=False), name="static")
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema, with every error documented as it is sent (``{"detail": "message"}`` in JSON) and
    the data of each server-sent event named (``x-event-data``)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        components = schema["components"]["schemas"]
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        progress = ProgressEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(progress.pop("$defs"), ProgressEvent=progress)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    if code.startswith("4") and "content" in response:
                        response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        events = schema["paths"]["/api/jobs/{job_id}/events"]["get"]["responses"]["200"]
        events["x-event-data"] = {
            "progress": {"$ref": "#/components/schemas/ProgressEvent"},
            "state": {"$ref": "#/components/schemas/Job"},
        }
        app.openapi_schema = schema
    return app.openapi_schema
