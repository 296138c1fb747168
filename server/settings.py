"""Server settings: one pydantic-settings class, read from ``LOSSATLAS_*`` environment variables and
the ``lossatlas serve`` flags (flags win)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers import DATASETS, default_root, did_you_mean, list_models, resource_dir


class DatasetSource(BaseModel):
    """Where the server finds a dataset that jobs may name: the engine's dataset kind and its root
    (file or directory; None: the engine's default location for that kind)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description=f"one of {', '.join(DATASETS)}")
    root: Path | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.kind not in DATASETS:
            raise ValueError(f"dataset kind {self.kind!r} is not one of {', '.join(DATASETS)}")
        return self

    def resolved_root(self) -> Path | None:
        return self.root if self.root is not None else default_root(self.kind)


JSON_SETTINGS = {  # the settings given as JSON in the environment: what each holds, with an example
    "datasets": 'a JSON object of {"name": {"kind": ..., "root": ...}}, for example '
    '{"cifar10": {"kind": "cifar10-jpeg", "root": "/data/cifar10-jpeg.tar.xz"}}',
    "models": 'a JSON list of zoo model names, for example ["tinycnn", "resnet56"]',
}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Everything the server and its embedded worker are configured with."""

    model_config = SettingsConfigDict(env_prefix="LOSSATLAS_", extra="ignore")

    data_dir: Path = Field(Path.home() / ".local" / "share" / "lossatlas", description="jobs, user surfaces, uploads")
    gallery_dir: Path = Field(
        default_factory=lambda: resource_dir("precomputed"), description="read-only gallery of precomputed surfaces"
    )
    frontend_dir: Path = Field(
        default_factory=lambda: resource_dir("frontend"), description="the viewer (index.html, static files)"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: SecretStr | None = Field(None, description="bearer token required by write endpoints")
    allow_open: bool = Field(False, description="allow a non-loopback host without a token")

    max_points: int = Field(2601, ge=1, description="grid points per job (2601 = 51 x 51)")
    max_samples: int = Field(10000, ge=1, description="samples per split per job")
    max_job_tflop: float = Field(
        10000.0,
        gt=0,
        description="forward-pass work per job, TFLOP: points x samples x splits x model FLOPs per sample",
    )
    max_queued_jobs: int = Field(20, ge=1, description="jobs queued or running at once")
    max_upload_mb: int = Field(100, ge=1, description="size of an uploaded file or request body")
    max_batch_size: int = Field(1024, ge=1)
    max_import_points: int = Field(262144, ge=1, description="grid points of an imported surface file (512 x 512)")
    import_timeout_s: float = Field(20.0, gt=0, description="seconds to check an imported file before refusing it")

    datasets: dict[str, DatasetSource] = Field(
        default_factory=lambda: {"cifar10-jpeg": DatasetSource(kind="cifar10-jpeg")},
        description='datasets jobs may use: {"name": {"kind": ..., "root": ...}} (JSON in the environment)',
    )
    models: list[str] | None = Field(None, description="zoo models jobs may use (default: the whole zoo)")

    header_timeout_s: float = Field(10.0, gt=0, description="seconds a client has to send a request's headers")
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="seconds a client has to send a request's body after its headers, plus 1 s per 500 bytes sent",
    )
    keep_alive_s: float = Field(5.0, ge=1, description="seconds an idle keep-alive connection stays open")
    max_connections: int = Field(1000, ge=1, description="open connections at once (past it: closed at once)")

    embedded_worker: bool = Field(True, description="run one worker process beside the API")
    worker_threads: int | None = Field(None, ge=1, description="torch threads of the embedded worker")
    device: str = "cpu"
    lease_s: float = Field(30.0, gt=0, description="seconds a job stays claimed without a heartbeat")
    poll_s: float = Field(1.0, gt=0, description="seconds between a worker's looks at an empty queue")
    ray_address: str | None = Field(
        None, description="run the embedded worker's jobs on this Ray cluster ('auto' or host:port)"
    )
    retry_backoff_s: float = Field(1.0, gt=0, description="first wait of a worker after a failed write (doubles)")
    min_free_mb: int = Field(64, ge=0, description="free space of the data directory below which jobs are refused")

    @field_validator("token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value):
        return None if value == "" else value

    @field_validator("models", mode="before")
    @classmethod
    def _models_listed(cls, value):
        if value is not None and not isinstance(value, list | tuple):
            raise ValueError(f"must be {JSON_SETTINGS['models']}")
        return value

    @field_validator("models")
    @classmethod
    def _models_in_the_zoo(cls, value: list[str] | None) -> list[str] | None:
        zoo = list_models()
        unknown = [f"{m!r}{did_you_mean(m, zoo)}" for m in value or [] if m not in zoo]
        if unknown:
            raise ValueError(f"the zoo has no model {', '.join(unknown)}; choose from: {', '.join(zoo)}")
        return value

    @field_validator("datasets", mode="before")
    @classmethod
    def _datasets_named(cls, value):
        if not isinstance(value, dict):
            raise ValueError(f"must be {JSON_SETTINGS['datasets']}")
        return value

    @model_validator(mode="after")
    def _check(self):
        if not _is_loopback(self.host) and self.token is None and not self.allow_open:
            raise ValueError(
                f"host {self.host} is reachable from the network: set a token (--token or LOSSATLAS_TOKEN) so "
                "that strangers cannot start jobs or delete surfaces, or set LOSSATLAS_ALLOW_OPEN=true"
            )
        token = None if self.token is None else self.token.get_secret_value()
        if token is not None and len(token) < 8:
            raise ValueError("the token (--token or LOSSATLAS_TOKEN) must have at least 8 characters")
        if token is not None and (token != token.strip() or not all(" " <= c <= "~" for c in token)):
            # a client sends it in a header: HTTP strips the spaces around a value, and reads bytes past ASCII as
            # Latin-1, so that a UTF-8 client's "ä" never matched: such a token could not be presented
            raise ValueError(
                "the token (--token or LOSSATLAS_TOKEN) must be printable ASCII (letters, digits, punctuation, "
                "spaces) with no space at either end, as clients can send it in a header; for example: "
                '--token "$(openssl rand -hex 16)"'
            )
        for name in self.datasets:
            if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"dataset name {name!r} must be 1-64 letters, digits, '-', '_' or '.'")
        return self

    @property
    def surfaces_dir(self) -> Path:
        return self.data_dir / "surfaces"

    @property
    def checkpoints_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def uploads_dir(self) -> Path:
        """Uploads land here until validated (same filesystem as their destination: moves are renames)."""
        return self.data_dir / "tmp"


@lru_cache
def settings_from_env() -> Settings:
    """Settings from the environment (cached); ``create_app`` takes explicit settings in tests."""
    return Settings()
