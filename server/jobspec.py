"""A job request -> the SurfaceSpec a worker runs: server-side names resolved to server paths, the
configured limits checked, and the fingerprint that makes identical requests share one job."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import torch
from fastapi import HTTPException

from workers import (
    HVP_FORWARD_EQUIVALENTS,
    SAMPLE_SHAPES,
    SPLIT_SIZES,
    SurfaceSpec,
    check_data_fits,
    check_samples,
    counted,
    create_model,
    did_you_mean,
    list_models,
    one_line,
)

from .catalog import slugify
from .cost import gflop_per_sample, job_tflop
from .gallery_weights import find_gallery_checkpoint, find_gallery_run
from .schemas import JobDirections, JobRequest
from .settings import Settings
from .uploads import CheckpointStore


def allowed_models(settings: Settings) -> list[str]:
    zoo = list_models()
    return [m for m in zoo if m in settings.models] if settings.models is not None else zoo


def _refuse(message: str, status: int = 422) -> HTTPException:
    return HTTPException(status, message)


def check_model(model: str, settings: Settings) -> str:
    """``model``, or 422 unless this server offers it."""
    models = allowed_models(settings)
    if model not in models:
        raise _refuse(
            f"model {model!r} is not available{did_you_mean(model, models)}; choose one of: {', '.join(models)}"
        )
    return model


def build_spec(
    request: JobRequest, settings: Settings, checkpoints: CheckpointStore
) -> tuple[SurfaceSpec, str | None, float]:
    """The spec of a request, its checkpoint's sha256 and its cost in TFLOP (checked against the limit);
    HTTP errors name what is wrong."""
    check_model(request.model, settings)
    source = settings.datasets.get(request.dataset)
    if source is None:
        raise _refuse(
            f"dataset {request.dataset!r} is not configured on this server; choose one of: "
            f"{', '.join(settings.datasets) or '(none configured)'}"
        )
    root = source.resolved_root()
    if root is None or not root.exists():
        raise _refuse(f"dataset {request.dataset!r} is configured but its data is missing on the server", 409)
    checkpoint, sha = None, None
    if request.checkpoint_id is not None:
        found = checkpoints.get(request.checkpoint_id)
        if found is None:
            raise _refuse(f"no checkpoint {request.checkpoint_id!r}; upload it with POST /api/checkpoints", 404)
        checkpoint, record = found
        if record.model != request.model:
            raise _refuse(
                f"checkpoint {request.checkpoint_id} was uploaded for model {record.model!r}, not {request.model!r}"
            )
        sha = record.sha256
    if request.gallery_checkpoint is not None:
        try:
            checkpoint, sha = find_gallery_checkpoint(
                settings.gallery_dir, request.gallery_checkpoint, request.model, allowed_models(settings)
            )
        except LookupError as e:
            raise _refuse(str(e), 404) from None
        except ValueError as e:
            raise _refuse(str(e)) from None
    run_files = None
    if request.directions.run is not None:
        checkpoint, sha, run_files = _gallery_run(request, settings)
    points = grid_points(request)
    if points > settings.max_points:
        raise _refuse(f"the grid has {points} points, more than the server's limit max_points={settings.max_points}")
    if request.samples > settings.max_samples:
        raise _refuse(f"samples={request.samples} is more than the server's limit max_samples={settings.max_samples}")
    path = len(run_files) if run_files is not None else len(request.directions.checkpoint_ids or [])
    cost = request_tflop(request, path)
    if cost > settings.max_job_tflop:
        raise _refuse(
            f"the job is about {cost:.4g} TFLOP of forward passes ({forward_passes(request, path):g} passes x "
            f"{request.samples} samples x "
            f"{counted(_splits(request), 'split')} x {gflop_per_sample(request.model):.4g} GFLOP per sample of {request.model}), "
            f"more than the server's limit max_job_tflop={settings.max_job_tflop:g}; use fewer points or samples"
        )
    if request.batch_size > settings.max_batch_size:
        raise _refuse(
            f"batch_size={request.batch_size} is more than the server's limit max_batch_size={settings.max_batch_size}"
        )
    try:
        spec = SurfaceSpec(
            model=request.model,
            checkpoint=str(checkpoint) if checkpoint else None,
            dataset=source.kind,
            data_root=str(root),
            split=request.split,
            samples=request.samples,
            sample_seed=request.sample_seed,
            batch_size=request.batch_size,
            loss=request.loss,
            directions=_directions(request, checkpoints, run_files),
            x=request.x,
            y=request.y,
            hessian=request.hessian,
        )
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        raise _refuse(one_line(e).removeprefix("spec: ")) from None
    _check_split_sizes(spec, request.dataset)
    _check_sample_shape(spec)
    return spec, sha, cost


def _check_split_sizes(spec: SurfaceSpec, dataset: str) -> None:
    """422 for more samples than a split of a standard dataset holds (the worker checks the others once
    it has read them)."""
    for split in spec.splits:
        size = SPLIT_SIZES.get(spec.dataset, {}).get(split)
        if size is not None:
            try:
                check_samples(spec.samples, size, f"{dataset} {split}")
            except ValueError as e:
                raise _refuse(str(e)) from None


def _check_sample_shape(spec: SurfaceSpec) -> None:
    """422 for a model that cannot take the samples of a standard dataset, whose shape is known without
    reading them; the worker checks other data once it has read it, in the same words."""
    shape = SAMPLE_SHAPES.get(spec.dataset)
    misfit = _misfit(spec.model, shape, tuple(spec.splits)) if shape is not None else None
    if misfit is not None:
        raise _refuse(misfit)


@lru_cache(maxsize=256)
def _misfit(model: str, shape: tuple[int, ...], splits: tuple[str, ...]) -> str | None:
    """What :func:`workers.check_data_fits` says of zoo ``model`` given samples of ``shape`` (None: they
    fit). The weights are left uninitialized (made on the meta device, then given memory): only shapes
    matter, and the message is the one the worker would give for real data of that shape."""
    with torch.device("meta"):
        net = create_model(model).eval()
    net = net.to_empty(device="cpu")
    x, y = torch.zeros(1, *shape), torch.zeros(1, dtype=torch.long)  # label 0: any classifier's
    try:
        check_data_fits(net, {split: (x, y) for split in splits}, model, torch.device("cpu"))
    except ValueError as e:
        return str(e)
    return None


def grid_points(request: JobRequest) -> int:
    return request.x.num * (request.y.num if request.y is not None else 1)


def _splits(request: JobRequest) -> int:
    return 2 if request.split == "both" else 1


def forward_passes(request: JobRequest, path: int = 0) -> float:
    """Passes over the samples: one per grid point, one per checkpoint of a pca job's ``path`` (each
    checkpoint's own loss and accuracy), plus a ``hessian`` option's Hessian-vector products (each worth
    HVP_FORWARD_EQUIVALENTS passes)."""
    passes = float(grid_points(request) + path)
    if request.hessian is not None:
        hvps = grid_points(request) * request.hessian.max_steps + request.hessian.summary_hvps
        passes += hvps * HVP_FORWARD_EQUIVALENTS
    return passes


def request_tflop(request: JobRequest, path: int = 0) -> float:
    """The estimated forward-pass work of a request (with a pca ``path`` of that many checkpoints), in
    TFLOP (its model must be in the zoo)."""
    return job_tflop(request.model, forward_passes(request, path), request.samples, _splits(request))


def _gallery_run(request: JobRequest, settings: Settings) -> tuple[Path, str, list[Path]]:
    """The final model's file, the job's weights digest and the path's files of ``directions.run``."""
    if request.directions.kind != "pca":
        raise _refuse("directions.run names a training path: it needs directions of kind pca")
    if request.checkpoint_id is not None or request.gallery_checkpoint is not None:
        raise _refuse(
            "a gallery run's plane is centred on its own final model: leave out checkpoint_id and gallery_checkpoint"
        )
    try:
        files, final, digest = find_gallery_run(
            settings.gallery_dir, request.directions.run, request.model, allowed_models(settings)
        )
    except LookupError as e:
        raise _refuse(str(e), 404) from None
    except ValueError as e:
        raise _refuse(str(e)) from None
    return final, digest, files


def _directions(request: JobRequest, checkpoints: CheckpointStore, run_files: list[Path] | None) -> dict:
    """The spec's directions; for ``pca`` the path's checkpoints (uploaded, or a gallery run's) as files."""
    d = request.directions
    if d.kind != "pca" and d.checkpoint_ids:
        raise _refuse("checkpoint_ids name a training path: they need directions of kind pca")
    _refuse_unused(d)
    if d.kind != "pca":
        return d.model_dump(exclude=d.unused())
    if request.y is None:
        raise _refuse("a pca surface is a plane: give y as well as x")
    if run_files is not None:
        if d.checkpoint_ids:
            raise _refuse("give the path as checkpoint_ids or as a gallery run, not both")
        paths = [str(f) for f in run_files]
    else:
        if not d.checkpoint_ids:
            raise _refuse(
                "pca directions need the path: checkpoint_ids (uploaded checkpoints, in order, at least 3) "
                "or run (a gallery run, see GET /api/checkpoints)"
            )
        paths = []
        for cid in d.checkpoint_ids:
            found = checkpoints.get(cid)
            if found is None:
                raise _refuse(f"no checkpoint {cid!r}; upload it with POST /api/checkpoints", 404)
            path, record = found
            if record.model != request.model:
                raise _refuse(f"checkpoint {cid} was uploaded for model {record.model!r}, not {request.model!r}")
            paths.append(str(path))
    return {"kind": "pca", "checkpoints": paths, "projection": d.projection, "ignore": d.ignore, "dir_type": d.dir_type}


def _refuse_unused(d: JobDirections) -> None:
    """422 for a field of the other kind of directions set to anything but its default: it would change
    nothing but the job's key (a second job for the same surface)."""
    given = sorted(k for k in d.unused() if getattr(d, k) != JobDirections.model_fields[k].default)
    if not given:
        return
    names = ", ".join(f"directions.{k}" for k in given)
    if d.kind == "pca":
        raise _refuse(
            f"a pca plane's axes are the path's principal components, with no norm, seed or same_dir: leave out {names}"
        )
    raise _refuse(f"{names} applies to pca directions (a training path): leave it out of random directions")


def request_key(request: JobRequest, checkpoint_sha: str | None) -> str:
    """Fingerprint of everything that determines the surface (not its title)."""
    unset: dict = {k: True for k in ("hessian", "gallery_checkpoint") if getattr(request, k) is None}
    if request.directions.run is None:
        unset["directions"] = {"run"}  # the keys of jobs from before these fields stay the same
    data = request.model_dump(mode="json", exclude={"name": True, **unset})
    data["checkpoint_sha256"] = checkpoint_sha
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


KEY_HEX = (10, 20, 64)  # digits of its request's key that end a job's surface id: more where another key has fewer


def surface_ids_for(request: JobRequest, key: str) -> list[str]:
    """The surface ids a job of ``request`` takes, in order: model, dataset and the start of the request's
    key, longer when the shorter id is another request's (two keys that start alike)."""
    return [f"{slugify(request.model, 40)}-{slugify(request.dataset, 40)}-{key[:n]}" for n in KEY_HEX]
