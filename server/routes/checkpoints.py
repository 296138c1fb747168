"""/api/checkpoints: upload weights for a zoo architecture (loaded with weights_only, never as code)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from ..deps import CheckpointsDep, SettingsDep, write_router
from ..gallery_weights import gallery_checkpoints, gallery_runs
from ..jobspec import allowed_models, check_model
from ..schemas import Checkpoint, CheckpointList, Error
from ..uploads import IdTaken, check_unpacked_size, saved_upload, upload_name, upload_refusals

router = APIRouter(prefix="/api/checkpoints", tags=["checkpoints"])
writes = write_router(router.prefix, router.tags)


def allowed_model(
    model: Annotated[str, Form(max_length=100, description="zoo model the weights belong to")], settings: SettingsDep
) -> str:
    """The form's model, or 422 unless this server offers it."""
    return check_model(model, settings)


AllowedModel = Annotated[str, Depends(allowed_model)]


@writes.post(
    "",
    status_code=201,
    response_model=Checkpoint,
    summary="Upload a checkpoint (state dict) for a zoo model",
    responses={
        200: {
            "model": Checkpoint,
            "description": "the same file was uploaded before (under any name): that checkpoint, unchanged",
        },
        409: {"model": Error, "description": "another file's checkpoint has this file's id (the start of its sha256)"},
        **upload_refusals(
            "not weights of that model, a file that unpacks to more than max_upload_mb",
            ("a model this server does not offer",),
        ),
    },
)
async def upload_checkpoint(
    file: Annotated[UploadFile, File(description=".pt/.pth/.t7 state dict")],
    model: AllowedModel,
    settings: SettingsDep,
    checkpoints: CheckpointsDep,
    response: Response,
) -> Checkpoint:
    """A checkpoint is its content: its id is the start of the file's sha256. The same file uploaded again,
    under any file name, answers 200 with the checkpoint recorded first, its name unchanged (a
    checkpoint's name is the file name it was first uploaded under)."""
    name = upload_name(file) or None
    async with saved_upload(file, settings.uploads_dir, ".pt") as tmp:
        try:
            await run_in_threadpool(check_unpacked_size, tmp, settings.max_upload_mb)
            checkpoint, created = await run_in_threadpool(checkpoints.add, tmp, model, name)
        except IdTaken as e:
            raise HTTPException(409, str(e)) from None
        except (ValueError, FileNotFoundError) as e:
            message = str(e).replace(f"checkpoint {str(tmp)!r}", "the checkpoint").replace(str(tmp), "the file")
            raise HTTPException(400, f"not usable as weights of {model}: {message}") from None
    if not created:
        response.status_code = 200
    return checkpoint


@router.get(
    "",
    response_model=CheckpointList,
    summary="Checkpoints a job may start from: uploaded and the gallery's, and the gallery's training paths",
)
def list_checkpoints(settings: SettingsDep, checkpoints: CheckpointsDep) -> CheckpointList:
    """Uploaded checkpoints (``checkpoint_id``), the gallery's trained ones on this server
    (``gallery_checkpoint``) and its training paths (``directions.run`` of a pca job), of the models this
    server allows."""
    models = allowed_models(settings)
    return CheckpointList(
        uploaded=[c for c in checkpoints.all() if c.model in models],
        gallery=[c for c, _ in gallery_checkpoints(settings.gallery_dir, models)],
        runs=[run for run, _, _ in gallery_runs(settings.gallery_dir, models)],
    )
