"""SurfaceSpec: everything that defines a loss surface, validated; the server accepts it as a request.

The spec is the recipe stored in every surface file. Two runs with equal recipes compute the same
surface, which is what makes resuming, deduplicating jobs and refusing mismatched files possible.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from .grid import Axis
from .vocab import Dataset, DirType, Ignore, Norm, Split

# torch's generators take a seed modulo 2**64: -1 would silently draw what 2**64 - 1 draws, so a seed is
# one of the distinct values, 0 to 2**64 - 1.
Seed = Annotated[int, Field(ge=0, le=2**64 - 1)]


class AxisSpec(BaseModel):
    """``num`` evenly spaced coordinates from ``min`` to ``max``; accepts ``"min:max:num"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # its validator names non-finite ends itself
    min: float
    max: float
    num: int = Field(ge=1, le=1001)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value):
        if isinstance(value, str):
            a = Axis.parse(value)
            return {"min": a.min, "max": a.max, "num": a.num}
        return value

    @model_validator(mode="after")
    def _check(self):
        Axis(self.min, self.max, self.num)  # raises ValueError with the reason
        return self

    def axis(self) -> Axis:
        return Axis(self.min, self.max, self.num)

    def __str__(self) -> str:
        return str(self.axis())


class DirectionsSpec(BaseModel):
    """How the directions are made.

    ``random``: Gaussian from ``seed``, normalized by ``norm`` (``filter`` is the paper's setting).
    ``target``: x = ``target`` checkpoint minus the model (and y = ``target_y`` minus the model for a
    plane through three models), unnormalized. ``pca``: the first two principal components of the path
    through ``checkpoints`` (unit vectors, ``norm`` none), made by :mod:`workers.trajectory`, which also
    projects the checkpoints by ``projection``. ``dir_file`` reuses directions from a file instead.

    ``dir_type`` defaults to ``weights`` for random directions (the paper's setting) and to ``states``
    for targets: BatchNorm running statistics then move too, so x = 1 is exactly the target model (the
    reference README's advice); ``weights`` with a target keeps the first model's statistics, and the
    recipe says so (``interpolation``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    kind: Literal["random", "target", "pca"] = "random"
    seed: Seed = 0
    norm: Norm = "filter"
    ignore: Ignore = "biasbn"
    dir_type: DirType = "weights"
    same_dir: bool = False
    target: str | None = None
    target_y: str | None = None
    checkpoints: list[str] | None = Field(None, description="pca: the path's checkpoint files, in order")
    projection: Literal["cos", "lstsq"] = "cos"

    @model_serializer(mode="wrap")
    def _pca_fields_only_for_pca(self, handler):
        """Recipes of random and target directions stay as they were before pca existed (files resume)."""
        data = handler(self)
        if self.kind != "pca":
            data.pop("checkpoints", None)
            data.pop("projection", None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _pca_unnormalized(cls, value):
        if isinstance(value, dict) and value.get("kind") == "pca":
            if value.get("norm", "none") != "none":
                raise ValueError("pca directions are the path's principal components, not normalized: leave norm out")
            value = {**value, "norm": "none"}
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_dir_type(cls, value):
        if isinstance(value, dict) and value.get("dir_type") is None and value.get("kind") == "target":
            return {**value, "dir_type": "states"}
        return value

    @model_validator(mode="after")
    def _check(self):
        if self.checkpoints is not None and self.kind != "pca":
            raise ValueError("checkpoints are only used with directions of kind 'pca'")
        if self.kind == "pca" and (self.target or self.target_y or self.same_dir):
            raise ValueError("pca directions take no target and no same_dir")
        if self.kind == "target" and not self.target:
            raise ValueError("directions of kind 'target' need a target checkpoint")
        if self.kind == "random" and (self.target or self.target_y):
            raise ValueError("a target checkpoint is only used with directions of kind 'target'")
        if self.target_y and not self.target:
            raise ValueError("target_y needs target too")
        return self


class HessianSpec(BaseModel):
    """Curvature maps: the largest and smallest eigenvalue of the loss's Hessian at every grid point.

    The Hessian is that of the surface's loss (its first split: ``train`` unless ``split='test'``) with
    respect to ``params``: ``moved``, the parameters the directions move (with ``biasbn``, those with more
    than one dimension), or ``reference``, every parameter with more than one dimension, as the reference
    code does. ``scale='mean'`` differentiates the mean loss over all samples (the plotted loss);
    ``batch_sum`` the sum of the batches' mean losses, the reference's operator (eigenvalues about
    number-of-batches times larger; the ratio is unchanged). ``method='lanczos'`` runs one Lanczos
    process with full reorthogonalization until both ends of the spectrum have residuals below ``tol``
    times the spectral radius; ``reference`` is the reference code's recipe (SciPy ``eigsh`` of H for the
    largest-magnitude eigenvalue, then of ``H - 0.51*max*I`` for the smallest, ``eigsh`` tol ``tol``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    params: Literal["moved", "reference"] = "moved"
    scale: Literal["mean", "batch_sum"] = "mean"
    method: Literal["lanczos", "reference"] = "lanczos"
    tol: float = Field(1e-2, gt=0, lt=1, description="residual bound, relative to the spectral radius")
    max_steps: int = Field(100, ge=2, le=2000, description="Hessian-vector products per point at most")
    seed: Seed = Field(0, description="seed of the start vectors")
    summary: bool = Field(True, description="curvature summary at the centre: top-k, trace, density")
    top_k: int = Field(5, ge=1, le=50)
    trace_samples: int = Field(20, ge=1, le=1000, description="Hutchinson probes")
    density_steps: int = Field(40, ge=2, le=500, description="Lanczos steps per density run (SLQ)")
    density_runs: int = Field(1, ge=1, le=20)

    @property
    def summary_hvps(self) -> int:
        """Hessian-vector products of the centre's summary, at most."""
        return self.max_steps + self.trace_samples + self.density_runs * self.density_steps if self.summary else 0


class SurfaceSpec(BaseModel):
    """A loss surface: model, data, directions and grid."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, protected_namespaces=()
    )  # model_args is a field
    model: str = Field(description="zoo name (resnet56, ...) or package.module:function")
    model_args: dict[str, Any] | None = Field(None, description="keyword arguments of the model function")
    checkpoint: str | None = Field(None, description="weights file of the model")
    dataset: Dataset = "cifar10"
    data_root: str | None = None
    download: bool = False
    split: Split = "train"
    samples: int | None = Field(None, ge=1, description="seeded random subset per split; all when null")
    sample_seed: Seed = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    batch_size: int = Field(128, ge=1, le=65536)
    loss: Literal["ce", "mse"] = "ce"
    directions: DirectionsSpec = DirectionsSpec()
    dir_file: str | None = Field(None, description="existing direction file to use")
    x: AxisSpec
    y: AxisSpec | None = None
    fast: bool | Literal["fp32", "bf16"] = Field(
        False,
        description="trade exactness for speed: BN folding, channels-last, and bf16 when named "
        "(true: bf16 on GPUs, fp32 on CPUs); the measured deviation is stored in the file",
    )
    hessian: HessianSpec | None = Field(None, description="also map the Hessian's extreme eigenvalues (costly)")

    @field_validator("fast", mode="before")
    @classmethod
    def _fast_mode(cls, value):
        bool_words = ("true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n")  # pydantic's
        if isinstance(value, str) and value not in ("fp32", "bf16") and value.lower() not in bool_words:
            raise ValueError(f"fast is true, false, fp32 or bf16, not {value!r}")
        return value

    @model_serializer(mode="wrap")
    def _optional_fields_only_when_set(self, handler):
        """Recipes of surfaces without eigenvalue maps or model arguments stay as they were before those
        existed (files resume)."""
        data = handler(self)
        for key in ("hessian", "model_args"):
            if getattr(self, key) is None:
                data.pop(key, None)
        return data

    @field_validator("mean", "std")
    @classmethod
    def _positive_std(cls, value, info):
        if value is not None and info.field_name == "std" and any(v <= 0 for v in value):
            raise ValueError("std values must be positive")
        return value

    @model_validator(mode="after")
    def _check(self):
        if (self.mean is None) != (self.std is None):
            raise ValueError("give mean and std together")
        if self.directions.same_dir and self.y is None:
            raise ValueError("same_dir needs a 2-D grid (a y axis)")
        if self.directions.target_y and self.y is None:
            raise ValueError("target_y needs a 2-D grid (a y axis)")
        return self

    @property
    def ndim(self) -> int:
        return 1 if self.y is None else 2

    @property
    def splits(self) -> list[str]:
        return ["train", "test"] if self.split == "both" else [self.split]

    @property
    def metrics(self) -> list[str]:
        out = [f"{s}_{m}" for s in self.splits for m in ("loss", "acc")]
        return out + (["max_eig", "min_eig"] if self.hessian is not None else [])

    @property
    def num_points(self) -> int:
        return self.x.num * (self.y.num if self.y is not None else 1)


def errors_line(errors: Iterable[dict[str, Any]], skip: tuple[str, ...] = (), empty: str = "spec") -> str:
    """Pydantic's error list as one line: ``x.num: Input should be ...; y: ...``.

    ``skip`` drops location parts (FastAPI's ``body``); ``empty`` names an error without a location.
    """
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e["loc"] if p not in skip) or empty
        parts.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def one_line(error: Exception) -> str:
    """A validation or value error as one readable line (CLI messages, failed jobs)."""
    if isinstance(error, ValidationError):
        return errors_line(error.errors())
    return str(error).split("\n")[0]
