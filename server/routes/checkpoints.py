"""/api/checkpoints: upload weights for a zoo architecture (loaded with weights_only, never as code)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool

from ..deps import CheckpointsDep, SettingsDep, write_router
from ..jobspec import check_model
from ..schemas import Checkpoint, Error
from ..uploads import save_upload

router = write_router("/api/checkpoints", ["checkpoints"])


def allowed_model(model: Annotated[str, Form(description="zoo model the weights belong to")], settings: SettingsDep) -> str:
    """The form's model, or 422 unless this server offers it."""
    return check_model(model, settings)


AllowedModel = Annotated[str, Depends(allowed_model)]


@router.post(
    "", status_code=201, response_model=Checkpoint,
    summary="Upload a checkpoint (state dict) for a zoo model",
    responses={400: {"model": Error}, 413: {"model": Error}, 422: {"model": Error}},
)
async def upload_checkpoint(
    file: Annotated[UploadFile, File(description=".pt/.pth/.t7 state dict")],
    model: AllowedModel,
    settings: SettingsDep, checkpoints: CheckpointsDep,
) -> Checkpoint:
    tmp = await save_upload(file, settings.uploads_dir, ".pt")
    try:
        return await run_in_threadpool(checkpoints.add, tmp, model)
    except (ValueError, FileNotFoundError) as e:
        message = str(e).replace(f"checkpoint {str(tmp)!r}", "the checkpoint").replace(str(tmp), "the file")
        raise HTTPException(400, f"not usable as weights of {model}: {message}") from None
    finally:
        tmp.unlink(missing_ok=True)
