"""/api/config: what this server offers and allows."""

from __future__ import annotations

from fastapi import APIRouter

from workers import HVP_FORWARD_EQUIVALENTS, NORMS, SPLIT_CHOICES, HessianSpec, __version__

from ..cost import known_gflop
from ..deps import SettingsDep
from ..jobspec import allowed_models
from ..schemas import Config, HessianCost, Limits, Storage
from ..storage import free_mb, low_space

router = APIRouter(prefix="/api", tags=["config"])


@router.get("/config", response_model=Config, summary="Version, limits, models and datasets of this server")
def get_config(settings: SettingsDep) -> Config:
    return Config(
        version=__version__,
        auth_required=settings.token is not None,
        limits=Limits(
            max_points=settings.max_points,
            max_samples=settings.max_samples,
            max_job_tflop=settings.max_job_tflop,
            max_queued_jobs=settings.max_queued_jobs,
            max_upload_mb=settings.max_upload_mb,
            max_batch_size=settings.max_batch_size,
        ),
        hessian=HessianCost(
            hvps_per_point=HessianSpec().max_steps,
            forward_equivalents_per_hvp=HVP_FORWARD_EQUIVALENTS,
            summary_hvps=HessianSpec().summary_hvps,
            defaults=HessianSpec(),
        ),
        models=allowed_models(settings),
        model_gflop=known_gflop(allowed_models(settings)),
        storage=Storage(free_mb=free_mb(settings.data_dir), warning=low_space(settings)),
        datasets=list(settings.datasets),
        norms=list(NORMS),
        splits=list(SPLIT_CHOICES),
    )
