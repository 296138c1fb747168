"""/api/config: what this server offers and allows."""
from __future__ import annotations

from fastapi import APIRouter

from workers import HessianSpec, __version__
from workers.hessian import HVP_FORWARD_EQUIVALENTS

from ..deps import SettingsDep
from ..jobspec import allowed_models
from ..schemas import Config, HessianCost, Limits

router = APIRouter(prefix="/api", tags=["config"])


@router.get("/config", response_model=Config, summary="Version, limits, models and datasets of this server")
def get_config(settings: SettingsDep) -> Config:
    return Config(
        version=__version__,
        auth_required=settings.token is not None,
        limits=Limits(max_points=settings.max_points, max_samples=settings.max_samples,
                      max_queued_jobs=settings.max_queued_jobs, max_upload_mb=settings.max_upload_mb),
        hessian=HessianCost(hvps_per_point=HessianSpec().max_steps, forward_equivalents_per_hvp=HVP_FORWARD_EQUIVALENTS,
                            summary_hvps=HessianSpec().summary_hvps, defaults=HessianSpec()),
        models=allowed_models(settings),
        datasets=list(settings.datasets),
    )
