"""Public models of the REST API (listed in the README's REST API section, served as /openapi.json); storage lives elsewhere."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from workers import AxisSpec, DirType, HessianSpec, Ignore, JobState, Norm, Split, Tier

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
STORED = {"stored": True}  # validation context of what the server accepted before: checked then, shown as it is


def plain_title(value: str) -> str:
    """``value``, or ValueError when it holds a control character (line breaks, terminal escapes) or a
    text-direction control (a right-to-left override shows "exe.txt" for "txt.exe"): other users see
    titles, which must read as what they are."""
    for c in value:
        if c in BIDI_CONTROLS or unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp"):
            name = f" ({unicodedata.name(c)})" if unicodedata.name(c, "") else ""  # control characters have none
            raise ValueError(f"holds U+{ord(c):04X}{name}, a control or text-direction character; remove it")
    return value


def _title(value: str, info: ValidationInfo) -> str:
    return value if info.context == STORED else plain_title(value)


TITLE_MAX = 200  # characters of a title: a job's name, an uploaded file's name
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TITLE_MAX), AfterValidator(_title)]


class Error(BaseModel):
    detail: str = Field(description="what was wrong, in words")


class Limits(BaseModel):
    """What one job or upload may ask for at most (settings ``LOSSATLAS_*``); past one, a request is refused."""

    max_points: int = Field(description="grid points of a job (x.num x y.num)")
    max_samples: int = Field(description="a job's samples, per split")
    max_job_tflop: float = Field(
        description="forward-pass work per job (points x samples x splits x model GFLOP / 1000)"
    )
    max_queued_jobs: int = Field(description="jobs queued or running at once (past it: 429)")
    max_upload_mb: int = Field(description="size of an uploaded file or request body, MiB")
    max_batch_size: int = Field(description="a job's batch_size")


class Storage(BaseModel):
    free_mb: float | None = Field(description="free space of the data directory, MiB")
    warning: str | None = Field(description="set while jobs cannot be stored (the data directory is nearly full)")


class HessianCost(BaseModel):
    """What the ``hessian`` option of a job costs, in Hessian-vector products (HVPs)."""

    hvps_per_point: int = Field(description="at most, with the default max_steps (one per Lanczos step)")
    forward_equivalents_per_hvp: float = Field(
        description="forward passes of the same samples one HVP costs (measured)"
    )
    summary_hvps: int = Field(description="at most, for the centre's curvature summary (top-k, trace, density)")
    defaults: HessianSpec


class Config(BaseModel):
    model_config = ConfigDict(protected_namespaces=())  # model_gflop: pydantic < 2.10 warns of its "model_"

    version: str
    auth_required: bool
    limits: Limits
    storage: Storage
    hessian: HessianCost = Field(description="cost of a job's hessian option (eigenvalue maps)")
    models: list[str] = Field(description="zoo models a job may use")
    model_gflop: dict[str, float | None] = Field(
        description="FLOPs of one forward pass of one 32 x 32 sample per model, GFLOP (null: not counted yet, i.e. no job named it since the server started)"
    )
    datasets: list[str] = Field(description="datasets a job may use")
    norms: list[Norm] = Field(description="direction normalizations a job may use")
    splits: list[Split] = Field(description="splits a job may evaluate")


# -- surfaces ---------------------------------------------------------------------------------------


class DirectionsSummary(BaseModel):
    kind: str
    norm: str
    ignore: str
    dir_type: str
    seed: int


class AxisRange(BaseModel):
    min: float
    max: float
    num: int


class Grid(BaseModel):
    x: AxisRange
    y: AxisRange | None


class GalleryInfo(BaseModel):
    tier: Tier
    title: str
    description: str
    pair: str | None = None
    shortcuts: bool | None = None
    epochs: int | None = None
    test_acc: float | None = None
    source: str = ""


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]  # a fingerprint: hex sha256


class SurfaceSummary(BaseModel):
    id: str
    name: str
    source: Literal["gallery", "user"]
    model: str
    dataset: str
    dataset_label: str
    split: str
    samples: int | None
    directions: DirectionsSummary | None
    grid: Grid
    ndim: Literal[1, 2]
    metrics: list[str]
    center: dict[str, float | None] = Field(description="each metric at the grid point nearest the origin")
    status: Literal["complete", "partial"]
    points_done: int
    points_total: int
    landscape_stats: dict[str, Any] | None
    gallery: GalleryInfo | None
    directions_sha256: Sha256 | None = Field(
        None,
        description="sha256 of the directions' float32 values, as the engine records it in the file (attribute "
        "directions_sha256): two surfaces with the same value share their directions exactly; null where the "
        "file lacks it (the reference code's files, files of older versions)",
    )
    weights_sha256: Sha256 | None = Field(
        None,
        description="sha256 of the model's weights and buffers as evaluated (the recipe's weights_sha256); null "
        "where the file lacks it",
    )
    checkpoint_sha256: Sha256 | None = Field(
        None,
        description="sha256 of the checkpoint file the weights were loaded from (the recipe's checkpoint_sha256); "
        "null for weights not loaded from a file (the zoo's initialization) or a file that lacks it",
    )
    negative_variance_points: int | None = Field(
        None,
        ge=0,
        description="grid points where every metric is NaN (the model's output is) because the directions move a BatchNorm running variance below "
        "zero there (directions of dir_type states, past the ends of an interpolation or of a training path's "
        "plane): the engine counts them before computing and records the count in the file (attribute "
        "negative_variance_points); those points are null in the mesh with done 1; 0 where there is none. Null where the file does not "
        "record it: a file of the reference code or of an older version",
    )


class Paged(BaseModel):
    """A page of a list endpoint (:mod:`server.paging`)."""

    next_offset: int | None = Field(None, description="the offset of the next page (?offset=...); null: no more")


class SurfaceList(Paged):
    surfaces: list[SurfaceSummary] = Field(description="gallery first, then user surfaces, each by id")
    unreadable: dict[str, str] = Field(
        default_factory=dict,
        description="surfaces left out of the list because their file cannot be read: {id: why} (all of them, "
        "on every page)",
    )


class MeshTrajectory(BaseModel):
    """The optimizer's path on a PCA surface: one entry per checkpoint, in path order."""

    labels: list[str]
    epochs: list[int] = Field(description="epoch (or step) of each checkpoint; -1 where unknown")
    x: list[float | None]
    y: list[float | None]
    metrics: dict[str, list[float | None]] = Field(description="each checkpoint's own loss and accuracy")
    method: str | None = Field(description="projection: cos or lstsq")
    explained_variance_ratio: list[float] | None = Field(description="of PC1 and PC2 (the x and y axes)")


class Mesh(BaseModel):
    id: str
    name: str
    ndim: Literal[1, 2]
    x: list[float]
    y: list[float] | None
    metrics: dict[str, list[list[float | None]] | list[float | None]] = Field(
        description="rows of y (2-D) or a row (1-D); null where not done or not finite (done tells which)"
    )
    done: list[list[int]] | list[int]
    curvature: dict[str, Any] | None = Field(
        None, description="Hessian at the centre (top_eigenvalues, trace, density_nodes/density_weights per SLQ run)"
    )
    z_range: dict[str, list[float] | None] = Field(description="[min, max] over finite done values")
    points_done: int
    points_total: int
    complete: bool
    recipe: dict[str, Any]
    summary: SurfaceSummary
    trajectory: MeshTrajectory | None = None


class Checkpoint(BaseModel):
    id: str
    sha256: str
    model: str
    name: str | None = Field(None, description="the uploaded file's name")


class GalleryCheckpoint(BaseModel):
    """Trained weights of the gallery; a job names them with ``gallery_checkpoint``."""

    id: str
    model: str
    sha256: str
    title: str
    source: str = Field(description="where the weights come from (training recipe or paper)")
    test_acc: float | None = Field(description="accuracy on the whole test split, percent; null where unknown")


class GalleryRun(BaseModel):
    """A training path of the gallery (a checkpoint per epoch); a pca job names it with ``directions.run``."""

    id: str
    model: str
    title: str
    source: str = Field(description="how the run was trained")
    labels: list[str] = Field(description="its checkpoints in path order, e.g. epoch_0 ... epoch_6")
    final_sha256: str = Field(description="sha256 of the final model: the centre of the plane")
    grid: str | None = Field(
        description='the grid of the gallery\'s own surface of this run ("xmin:xmax:num x ymin:ymax:num"), which '
        "covers the path: a starting point for a job's x and y; null when the gallery has no surface of it"
    )


class CheckpointList(BaseModel):
    uploaded: list[Checkpoint]
    gallery: list[GalleryCheckpoint]
    runs: list[GalleryRun] = Field([], description="the gallery's training paths, for pca jobs")


# -- jobs -------------------------------------------------------------------------------------------


class JobDirections(BaseModel):
    """Random directions (the paper's recipe: filter normalization, zero for biases and BN), or ``pca``:
    the plane of a training path (uploaded checkpoints, or a gallery run), with the path drawn on it."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["random", "pca"] = Field(
        "random", description="random (seed, norm, same_dir) or pca (checkpoint_ids or run, projection)"
    )
    seed: int = Field(0, ge=0, le=2**63 - 1, strict=True, description="random: seed of the directions' generator")
    norm: Norm = Field(
        "filter", description="random: how each direction is scaled to the weights (filter: per filter, the paper's)"
    )
    ignore: Ignore = Field("biasbn", description="biasbn: biases and BatchNorm parameters get no direction")
    dir_type: DirType = Field(
        "weights", description="directions over the parameters, or states: the whole state dict (BN statistics too)"
    )
    same_dir: bool = Field(False, description="random: the y direction equals the x direction (a check)")
    checkpoint_ids: list[Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]] | None = Field(
        None,
        min_length=3,
        max_length=1000,
        description="pca: uploaded checkpoints of the path in order; the final model is checkpoint_id or the last",
    )
    run: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        max_length=100,
        description="pca: a gallery run's id (see runs in GET /api/checkpoints); the plane is centred on its final "
        "model, so leave out checkpoint_ids, checkpoint_id and gallery_checkpoint",
    )
    projection: Literal["cos", "lstsq"] = Field("cos", description="pca: how checkpoints are projected")

    ONLY: ClassVar[dict[str, frozenset[str]]] = {
        "random": frozenset({"seed", "norm", "same_dir"}),
        "pca": frozenset({"checkpoint_ids", "run", "projection"}),
    }  # the fields only one kind reads; ignore and dir_type are read by both

    def unused(self) -> frozenset[str]:
        """The fields of the other kind, which these directions do not read."""
        return self.ONLY["pca" if self.kind == "random" else "random"]


class JobRequest(BaseModel):
    """A surface to compute."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=100, description="zoo name (see /api/config)")
    checkpoint_id: str | None = Field(None, pattern=r"^[0-9a-f]{16}$", description="from POST /api/checkpoints")
    gallery_checkpoint: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        max_length=100,
        description="a gallery checkpoint's id (see GET /api/checkpoints)",
    )
    dataset: str = Field(max_length=100, description="dataset name configured on the server (see /api/config)")
    split: Split = Field("train", description="the samples' split; both: train and test metrics")
    samples: int = Field(
        ge=1,
        strict=True,
        description="seeded random subset per split (at most max_samples, see /api/config, and at most the split holds)",
    )
    sample_seed: int = Field(0, ge=0, le=2**63 - 1, strict=True, description="seed of the subset of samples")
    batch_size: int = Field(
        128, ge=1, strict=True, description="samples per forward pass (at most max_batch_size, see /api/config)"
    )
    loss: Literal["ce", "mse"] = Field("ce", description="cross-entropy, or mse: softmax against one-hot")
    directions: JobDirections = Field(
        JobDirections(), description="the plane's axes (default: random, filter-normalized)"
    )
    x: AxisSpec = Field(description='"min:max:num" or {"min", "max", "num"}')
    y: AxisSpec | None = Field(None, description="as x; leave it out for a 1-D curve (a pca job needs it)")
    hessian: HessianSpec | None = Field(None, description="also map max_eig/min_eig; see /api/config for the cost")
    name: Title | None = Field(None, description="title of the surface (plain text, at most 200 characters)")

    @field_validator("samples", mode="before")
    @classmethod
    def _samples_given(cls, value):
        if value is None:
            raise ValueError(
                "give a number: the server evaluates a seeded subset of at most max_samples "
                "(see /api/config) samples per split"
            )
        return value

    @model_validator(mode="after")
    def _one_checkpoint(self):
        if self.checkpoint_id is not None and self.gallery_checkpoint is not None:
            raise ValueError("give checkpoint_id or gallery_checkpoint, not both")
        return self


class Job(BaseModel):
    id: str
    state: JobState = Field(
        description="queued -> running -> done | failed | cancelled (failed or cancelled: the same request again resumes it)"
    )
    points_done: int
    points_total: int
    rate: float | None = Field(description="points per second")
    eta: float | None = Field(description="seconds left")
    error: str | None = Field(description="why a failed job failed")
    cost_tflop: float | None = Field(
        description="estimated forward-pass work, TFLOP (see Limits.max_job_tflop); null for jobs of older versions"
    )
    surface_id: str = Field(description="its surface in GET /api/surfaces/{surface_id} (partial while it runs)")
    url: str = Field(description="this job: GET to follow it, DELETE to cancel it; /events for its progress")
    created: str = Field(description="ISO 8601, UTC")
    updated: str = Field(description="ISO 8601, UTC")
    request: JobRequest = Field(
        description="the request as the job reads it: its directions without the fields of the other kind"
    )
    warnings: list[str] = Field(
        [],
        description="what a done job's surface holds that its user should know, in words: e.g. how many points are "
        "NaN and why (see SurfaceSummary.negative_variance_points); empty when nothing",
    )
    existing: bool = Field(
        False,
        description="true only in the 200 answer of POST /api/jobs: an identical request's job (queued, running or "
        "done) was returned and no job queued; that job keeps its own name (request.name, its surface's title), "
        "whatever name this request gave (the name is not part of what makes two requests identical)",
    )

    @field_serializer("request", mode="wrap")
    def _echo(self, request: JobRequest, handler: SerializerFunctionWrapHandler):
        """A pca job's request shows no norm or seed (its plane has none) and the path it was given (run or
        checkpoint_ids), a random job's no path; the stored request, and so the job's key, keep them all."""
        data = handler(request)
        unused = request.directions.unused()
        data["directions"] = {k: v for k, v in data["directions"].items() if k not in unused and v is not None}
        return data


class JobList(Paged):
    jobs: list[Job] = Field(description="newest first")


class ProgressPoint(BaseModel):
    ix: int
    iy: int
    values: dict[str, float | None]


class ProgressEvent(BaseModel):
    """Data of an ``event: progress`` message; ``points`` are the newly finished ones."""

    points_done: int
    points_total: int
    rate: float | None
    eta: float | None
    points: list[ProgressPoint]
