"""The precomputed gallery: a manifest of entries, built by training what is missing, computing what is
missing, and writing an index the server reads.

``precomputed/manifest.json`` lists the entries (model, data, training recipe or an existing checkpoint
with its sha256, surface recipe). ``lossatlas gallery build`` walks it: trained checkpoints go to
``precomputed/checkpoints/<id>.pt`` (small, committed), a training path's checkpoints (entries whose surface
is in the path's PCA plane) to ``precomputed/runs/<id>/``, surfaces to ``precomputed/<id>.h5``, and
``precomputed/index.json`` is regenerated from the manifest and the surface files. Every step skips what
is done and resumes what was interrupted (training per epoch, surfaces per point).

Tiers: ``cpu`` (sized for a 2-core machine), ``full`` (the paper's checkpoints at GPU scale) and ``gpu``
(trained to convergence with the fast recipe of :mod:`workers.fasttrain`; its epochs are sized on the GPU
by :mod:`workers.gallery_gpu`, which then removes the entries the new ones replace).
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, get_type_hints

import torch
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from .checkpoints import build_model, load_model
from .data import DATASET_LABELS, load_split
from .evaluate import Evaluator
from .fasttrain import OneCycleRecipe, ResidentData, fast_train
from .files import atomic_path, sha256_file
from .gallery_index import TIERS, Index, IndexEntry, Tier
from .h5io import Surface, read_surface, write_surface
from .resources import GALLERY_SOURCE, resource_dir
from .spec import AxisSpec, DirectionsSpec, HessianSpec, SurfaceSpec, one_line
from .train import TrainConfig, train
from .trajectory import expand_checkpoints
from .vocab import Split

REPO_ROOT = Path(__file__).resolve().parents[1]
GALLERY_DIR = resource_dir("precomputed")  # the checkout's precomputed/, or the installed copy
# Trained checkpoints above this size are not committed (VGG-16: 60 MB, DenseNet-121: 28 MB); their
# entries are rebuilt by training again, and their surfaces keep the checkpoint's sha256.
COMMITTED_CHECKPOINT_MAX_BYTES = 10 * 2**20


def _training_recipe() -> type[BaseModel]:
    """:class:`TrainConfig`'s fields and defaults, less what the entry itself names; epochs required, and
    the whole checked by ``TrainConfig`` itself as the manifest is read."""
    hints = get_type_hints(TrainConfig)
    own = {
        f.name: (hints[f.name], f.default)
        for f in fields(TrainConfig)
        if f.name not in ("model", "dataset", "data_root")
    }
    own["epochs"] = (int, Field(ge=1))

    def check(recipe: BaseModel) -> BaseModel:
        TrainConfig(model="", **recipe.model_dump())
        return recipe

    return create_model(
        "TrainingRecipe",
        __config__=ConfigDict(extra="forbid", protected_namespaces=()),  # model_args is a field
        __validators__={"_check": model_validator(mode="after")(check)},
        **own,
    )


TrainingRecipe = _training_recipe()


class ExternalCheckpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="relative to the repository root")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str


class SurfaceRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    split: Split = "both"
    samples: int = Field(ge=1)
    sample_seed: int = 0
    batch_size: int = 100
    directions: DirectionsSpec = DirectionsSpec()
    x: AxisSpec | None = None  # pca: may be left out, the grid then covers the path (grid_num, margin)
    y: AxisSpec | None = None
    fast: bool = Field(False, description="the engine's fast mode (bf16, folded BN): not exact fp32")
    grid_num: int = Field(21, ge=2, le=201)
    margin: float = Field(0.2, ge=0)
    hessian: HessianSpec | None = Field(None, description="also map the Hessian's extreme eigenvalues")

    def model_post_init(self, _context: Any) -> None:
        if self.x is None and self.directions.kind != "pca":
            raise ValueError("a surface needs an x axis (only pca surfaces choose theirs from the path)")
        if self.hessian is not None and self.directions.kind == "pca":
            raise ValueError("eigenvalue maps are built on random or file directions, not a pca path's plane")


class GalleryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    description: str
    tier: Tier
    model: str
    shortcuts: bool | None = None
    pair: str | None = None
    dataset: str
    training: TrainingRecipe | OneCycleRecipe | None = Field(None, union_mode="left_to_right")
    checkpoint: ExternalCheckpoint | None = None
    surface: SurfaceRecipe
    replaces: list[str] = Field([], description="entries this one supersedes: removed once it is built")
    optional: bool = Field(False, description="built only where the GPU build's time budget allows")

    def model_post_init(self, _context: Any) -> None:
        if (self.training is None) == (self.checkpoint is None):
            raise ValueError(f"entry {self.id!r}: give exactly one of training or checkpoint")
        if self.surface.directions.kind == "pca" and (self.training is None or not self.training.save_every):
            raise ValueError(
                f"entry {self.id!r}: a pca surface needs training with save_every (the path's checkpoints)"
            )


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    entries: list[GalleryEntry]

    def model_post_init(self, _context: Any) -> None:
        ids = [e.id for e in self.entries]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate gallery ids: {', '.join(dupes)}")
        for e in self.entries:
            if e.pair is not None and e.pair not in ids:
                raise ValueError(f"entry {e.id!r} pairs with unknown id {e.pair!r}")
            for old in e.replaces:
                if old == e.id or old not in ids:
                    what = "itself" if old == e.id else "not in the manifest"
                    raise ValueError(f"entry {e.id!r} replaces {old!r}, which is {what}")


def load_manifest(directory: Path = GALLERY_DIR) -> Manifest:
    path = directory / "manifest.json"
    try:
        return Manifest.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"no gallery manifest at {path}: {GALLERY_SOURCE}") from None


def entry_surface(entry: GalleryEntry, directory: Path = GALLERY_DIR) -> Surface | None:
    """The entry's surface file as read; None when there is none. One that cannot be read is refused with
    the way to build it again (it is never overwritten unasked)."""
    path = directory / f"{entry.id}.h5"
    if not path.exists():
        return None
    try:
        return read_surface(path)
    except ValueError as e:
        raise ValueError(f"{one_line(e)}; remove it and run lossatlas gallery build --only {entry.id}") from None


def checkpoint_path(entry: GalleryEntry, directory: Path = GALLERY_DIR) -> Path:
    if entry.checkpoint is not None:
        return (REPO_ROOT / entry.checkpoint.path).resolve()
    return directory / "checkpoints" / f"{entry.id}.pt"


def run_dir(entry: GalleryEntry, directory: Path = GALLERY_DIR) -> Path:
    """Where a pca entry's training path lies (``epoch_*.pt``): the server offers it to PCA jobs."""
    return directory / "runs" / entry.id


def run_checkpoints(entry: GalleryEntry, directory: Path = GALLERY_DIR) -> list[Path]:
    """The path's checkpoints of a pca entry, in order; [] when it has none on disk."""
    run = run_dir(entry, directory)
    if entry.surface.directions.kind != "pca" or not run.is_dir():
        return []
    try:
        return expand_checkpoints(run)
    except ValueError:  # an empty run directory
        return []


def checkpoint_kept(entry: GalleryEntry) -> bool:
    """Whether the repository keeps the entry's trained checkpoint: only a small one
    (:data:`COMMITTED_CHECKPOINT_MAX_BYTES`); the others are rebuilt by training again."""
    with torch.device("meta"):  # shapes only, nothing allocated
        model = build_model(entry.model)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) <= COMMITTED_CHECKPOINT_MAX_BYTES


def surface_fields(entry: GalleryEntry, directory: Path = GALLERY_DIR, data_root: str | None = None) -> dict[str, Any]:
    """The surface's spec fields; a pca surface's path is the run's checkpoints (:func:`run_dir`)."""
    s = entry.surface
    directions = s.directions.model_dump(mode="json")
    if s.directions.kind == "pca":
        directions["checkpoints"] = [str(run_dir(entry, directory))]
    return dict(
        model=entry.model,
        checkpoint=str(checkpoint_path(entry, directory)),
        dataset=entry.dataset,
        data_root=data_root,
        split=s.split,
        samples=s.samples,
        sample_seed=s.sample_seed,
        batch_size=s.batch_size,
        directions=directions,
        x=s.x,
        y=s.y,
        fast=s.fast,
        **({"hessian": s.hessian} if s.hessian is not None else {}),
    )


def surface_spec(entry: GalleryEntry, directory: Path = GALLERY_DIR, data_root: str | None = None) -> SurfaceSpec:
    return SurfaceSpec(**surface_fields(entry, directory, data_root))


def _train_entry(entry: GalleryEntry, directory: Path, work_dir: Path, device: str, data_root: str | None, log) -> None:
    """Train the entry's model into its checkpoint (and, for a pca entry, its path into :func:`run_dir`);
    ``work_dir`` keeps the resumable training state."""
    target = checkpoint_path(entry, directory)
    if isinstance(entry.training, OneCycleRecipe):
        if entry.training.epochs is None:
            raise ValueError(
                f"[{entry.id}] its epochs are sized from a measured run: build it with "
                "precomputed/build_gpu.py, or set training.epochs in the manifest"
            )
        log(f"[{entry.id}] training {entry.model}: {entry.training.line()}")
        data = ResidentData.load(entry.dataset, data_root, device)
        weights, record = fast_train(entry.model, entry.training, data, device, log=lambda m: log(f"[{entry.id}] {m}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            torch.save({"state_dict": weights, "training": record}, tmp)
        return
    cfg = TrainConfig(model=entry.model, dataset=entry.dataset, data_root=data_root, **entry.training.model_dump())
    work = work_dir / entry.id
    log(f"[{entry.id}] training {entry.model} for {cfg.epochs} epochs in {work}")
    result = train(cfg, work, device=device, log=lambda m: log(f"[{entry.id}] {m}"))
    if entry.surface.directions.kind == "pca":  # the path first: a final model without its path is retrained
        keep = run_dir(entry, directory)
        keep.mkdir(parents=True, exist_ok=True)
        for file in expand_checkpoints(work):
            with atomic_path(keep / file.name) as tmp:
                tmp.write_bytes(file.read_bytes())
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(result.checkpoint.read_bytes())


def build_entry(
    entry: GalleryEntry,
    directory: Path = GALLERY_DIR,
    work_dir: Path | None = None,
    device: str = "cpu",
    data_root: str | None = None,
    log=print,
    should_stop=None,
) -> None:
    """Train (if needed), compute (or resume) and annotate one entry's surface (``should_stop``: checked
    between surface points; when it returns True the surface is left partial, to be resumed)."""
    from .surface import compute_surface
    from .trajectory import compute_trajectory

    out = directory / f"{entry.id}.h5"
    existing = entry_surface(entry, directory)
    if existing is not None and existing.is_complete and "model_test_acc" in existing.attrs:
        log(f"[{entry.id}] done")
        return
    ckpt = checkpoint_path(entry, directory)
    if entry.checkpoint is not None:
        if not ckpt.exists():
            raise ValueError(
                f"[{entry.id}] checkpoint {ckpt} not found (see the manifest's source: {entry.checkpoint.source})"
            )
        if sha256_file(ckpt) != entry.checkpoint.sha256:
            raise ValueError(f"[{entry.id}] checkpoint {ckpt} does not have the manifest's sha256")
    elif not ckpt.exists() or (entry.surface.directions.kind == "pca" and not run_checkpoints(entry, directory)):
        # a pca surface needs the run's epoch checkpoints, not only the final model; a finished run is not
        # trained again (that would rewrite the final model, whose file hash the PCA directions record)
        _train_entry(entry, directory, work_dir or directory / ".runs", device, data_root, log)
    if existing is not None and existing.is_complete:
        surface = existing  # only its model's test accuracy is missing (removed to measure it again)
    elif entry.surface.directions.kind == "pca":
        log(f"[{entry.id}] surface in the PCA plane of the training path -> {out}")
        surface = compute_trajectory(
            surface_fields(entry, directory, data_root),
            out,
            device=device,
            num=entry.surface.grid_num,
            margin=entry.surface.margin,
            should_stop=should_stop,
        )
    else:
        spec = surface_spec(entry, directory, data_root)
        log(f"[{entry.id}] surface {spec.x} x {spec.y} on {spec.samples} samples per split -> {out}")
        surface = compute_surface(spec, out, device=device, should_stop=should_stop)
    if "model_test_acc" not in surface.attrs:
        if entry.training is not None:  # how the checkpoint was trained, as recorded beside its weights
            record = torch.load(ckpt, map_location="cpu", weights_only=True)
            surface.attrs["training"] = record.get("training") or {
                k: record[k] for k in ("epoch", "acc", "history") if k in record
            }
        model = load_model(entry.model, ckpt).to(device)
        x, y, _ = load_split(entry.dataset, "test", data_root)
        acc = Evaluator(model, {"test": (x, y)}, batch_size=500, device=device).evaluate()["test_acc"]
        surface.attrs["model_test_acc"] = acc
        surface.attrs["model_test_acc_device"] = torch.device(device).type  # exact fp32 (TF32 off) on it
        surface.recipe["spec"] = portable_locations(surface.recipe["spec"], entry, directory)
        write_surface(out, surface)
        log(f"[{entry.id}] test accuracy of the model on the whole test split: {acc:.2f}%")


def portable_locations(spec: dict[str, Any], entry: GalleryEntry, directory: Path = GALLERY_DIR) -> dict[str, Any]:
    """``spec`` with the places its files were found at (checkpoint, direction file, training path) named
    as the repository names them, not as the build machine's absolute paths: relative to the gallery
    directory's parent (the checkout's root), and a manifest checkpoint by the manifest's own path. Only
    locations change: what the files held is in the recipe's sha256s (and resuming ignores locations)."""
    root = directory.resolve().parent

    def named(path: str | None) -> str | None:
        if path is None:
            return None
        p = Path(path).resolve()
        if entry.checkpoint is not None and p == checkpoint_path(entry, directory):
            return entry.checkpoint.path
        return p.relative_to(root).as_posix() if p.is_relative_to(root) else path

    spec = {**spec, "checkpoint": named(spec.get("checkpoint")), "dir_file": named(spec.get("dir_file"))}
    if spec.get("directions", {}).get("checkpoints"):
        spec["directions"] = {
            **spec["directions"],
            "checkpoints": [named(c) for c in spec["directions"]["checkpoints"]],
        }
    return spec


def _source_line(e: GalleryEntry, acc: float | None, checkpoint_sha256: str | None, directory: Path) -> str:
    """Where an entry's weights come from and how they were trained, in one line."""
    if e.checkpoint is not None:
        return e.checkpoint.source
    r = e.training
    if isinstance(r, OneCycleRecipe):
        where = (
            f"checkpoint precomputed/checkpoints/{e.id}.pt"
            if checkpoint_kept(e)
            else f"checkpoint too large to commit (sha256 {(checkpoint_sha256 or '')[:12]})"
        )
        reached = f"; {acc:.2f}% test accuracy" if acc is not None else ""
        return f"trained by lossatlas: {r.line()}{reached}; {where}"
    return (
        f"trained by lossatlas ({r.epochs} epochs, {r.optimizer.upper()} lr {r.lr:g}, momentum {r.momentum:g}, "
        f"wd {r.weight_decay:g}, batch {r.batch_size}, seed {r.seed}); "
        f"checkpoint precomputed/checkpoints/{e.id}.pt"
    )


def build_index(manifest: Manifest, directory: Path = GALLERY_DIR) -> Index:
    """The index of every entry whose surface file exists."""
    entries = []
    for e in manifest.entries:
        s = entry_surface(e, directory)
        if s is None:
            continue
        path = directory / f"{e.id}.h5"
        acc = s.attrs.get("model_test_acc")
        source = _source_line(e, acc, s.recipe.get("checkpoint_sha256"), directory)
        grid = f"{AxisSpec(min=s.xcoordinates[0], max=s.xcoordinates[-1], num=s.xcoordinates.size)}" + (
            f" x {AxisSpec(min=s.ycoordinates[0], max=s.ycoordinates[-1], num=s.ycoordinates.size)}"
            if s.ycoordinates is not None
            else ""
        )
        entries.append(
            IndexEntry(
                id=e.id,
                file=path.name,
                title=e.title,
                description=e.description,
                tier=e.tier,
                pair=e.pair,
                shortcuts=e.shortcuts,
                epochs=e.training.epochs if e.training else None,
                test_acc=acc,
                source=source,
                model=e.model,
                dataset_label=DATASET_LABELS.get(e.dataset, e.dataset),
                samples=e.surface.samples,
                grid=grid,
                status="complete" if s.is_complete else "partial",
                landscape_stats=s.attrs.get("landscape_stats"),
                checkpoint_sha256=s.recipe.get("checkpoint_sha256"),
            )
        )
    return Index(entries=entries)


def write_index(index: Index, directory: Path = GALLERY_DIR) -> Path:
    path = directory / "index.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(index.model_dump(mode="json"), indent=1) + "\n")
    return path


def build(
    tier: str | None = None,
    only: list[str] | None = None,
    directory: Path = GALLERY_DIR,
    work_dir: Path | None = None,
    device: str = "cpu",
    data_root: str | None = None,
    log=print,
    should_stop=None,
) -> Index:
    """Build the entries of ``tier`` (``cpu``, ``full``, ``gpu`` or ``all``; default ``cpu``), or only the ids in
    ``only``: of any tier when ``tier`` is None, else each must be of ``tier`` (a mismatch is refused, not skipped).
    ``should_stop``: as :func:`build_entry`'s."""
    manifest = load_manifest(directory)
    tier_of = {e.id: e.tier for e in manifest.entries}
    unknown = sorted(set(only or []) - set(tier_of))
    if unknown:
        raise ValueError(
            f"unknown gallery {'id' if len(unknown) == 1 else 'ids'} {', '.join(unknown)}; the manifest has {', '.join(sorted(tier_of))}"
        )
    if tier is not None and tier not in (*TIERS, "all"):
        raise ValueError(f"tier must be {', '.join(TIERS)} or all; got {tier!r}")
    other = next((i for i in only or [] if tier not in (None, "all", tier_of[i])), None)
    if other is not None:
        raise ValueError(
            f"--only {other} is an entry of tier {tier_of[other]}, not {tier}: "
            f"give --tier {tier_of[other]} (or all), or leave out --tier"
        )
    for entry in manifest.entries:
        if only is not None and entry.id not in only:
            continue
        if only is None and tier != "all" and entry.tier != (tier or "cpu"):
            continue
        build_entry(entry, directory, work_dir, device, data_root, log, should_stop)
    index = build_index(manifest, directory)
    write_index(index, directory)
    return index
