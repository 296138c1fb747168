"""The gallery's trained checkpoints that jobs may start from: the manifest's entries whose checkpoint
file is on disk (and, for the paper's checkpoints, has the manifest's sha256), one per distinct file; and
its training paths (runs) that pca jobs may take their plane from.

A job names one by its gallery id; the server resolves it to the files here, never from a client path.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from workers import Index, IndexEntry, Manifest, checkpoint_path, load_manifest, run_checkpoints, sha256_file

from .schemas import GalleryCheckpoint, GalleryRun

log = logging.getLogger(__name__)
_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: each file hashed once
_lock = threading.Lock()


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _lock:
        if key not in _digests:
            _digests[key] = sha256_file(path)
        return _digests[key]


def _gallery(gallery_dir: Path) -> tuple[Manifest | None, dict[str, IndexEntry]]:
    """The gallery's manifest (None without one) and its index lines by id."""
    try:
        manifest = load_manifest(gallery_dir)
    except ValueError as e:  # no manifest (a server without a gallery) or a malformed one
        log.debug("no gallery checkpoints: %s", str(e).split("\n")[0])
        return None, {}
    index_file = gallery_dir / "index.json"
    try:
        index = (
            {e.id: e for e in Index.model_validate_json(index_file.read_text()).entries} if index_file.is_file() else {}
        )
    except ValueError:
        index = {}
    return manifest, index


def gallery_checkpoints(gallery_dir: Path, models: list[str]) -> list[tuple[GalleryCheckpoint, Path]]:
    """The usable gallery checkpoints of ``models``, in manifest order, with their files. The final model
    of a training path is titled as such: the path itself (a run) has the entry's title."""
    manifest, index = _gallery(gallery_dir)
    if manifest is None:
        return []
    out, seen = [], set()
    for entry in manifest.entries:
        path = checkpoint_path(entry, gallery_dir)
        if entry.model not in models or not path.is_file():
            continue
        sha = _sha256(path)
        if entry.checkpoint is not None and sha != entry.checkpoint.sha256:
            log.warning("gallery checkpoint %s skipped: %s does not have the manifest's sha256", entry.id, path)
            continue
        if sha in seen:  # the same weights under another entry (e.g. the eigenvalue map of a pair)
            continue
        seen.add(sha)
        shown = index.get(entry.id)
        source = (
            entry.checkpoint.source
            if entry.checkpoint is not None
            else (shown.source if shown else "trained by lossatlas")
        )
        out.append(
            (
                GalleryCheckpoint(
                    id=entry.id,
                    model=entry.model,
                    sha256=sha,
                    title=f"{entry.title}: final weights" if entry.surface.directions.kind == "pca" else entry.title,
                    source=source,
                    test_acc=shown.test_acc if shown else None,
                ),
                path,
            )
        )
    return out


def find_gallery_checkpoint(gallery_dir: Path, cid: str, model: str, models: list[str]) -> tuple[Path, str]:
    """The file and sha256 of gallery checkpoint ``cid`` for ``model``: LookupError when unknown, ValueError
    when it holds another model's weights (messages name the fix)."""
    found = {c.id: (c, path) for c, path in gallery_checkpoints(gallery_dir, models)}
    if cid not in found:
        names = ", ".join(found) or "(none on this server)"
        raise LookupError(f"no gallery checkpoint {cid!r}; choose one of GET /api/checkpoints: {names}")
    record, path = found[cid]
    if record.model != model:
        raise ValueError(f"gallery checkpoint {cid} holds weights of {record.model!r}, not {model!r}")
    return path, record.sha256


def gallery_runs(gallery_dir: Path, models: list[str]) -> list[tuple[GalleryRun, list[Path], Path]]:
    """The gallery's training paths of ``models`` whose checkpoints (at least 3) and final model are on disk,
    in manifest order, with the path's files and the final model's file."""
    manifest, index = _gallery(gallery_dir)
    out = []
    for entry in manifest.entries if manifest is not None else []:
        files, final = run_checkpoints(entry, gallery_dir), checkpoint_path(entry, gallery_dir)
        if entry.model not in models or len(files) < 3 or not final.is_file():
            continue
        shown = index.get(entry.id)
        run = GalleryRun(
            id=entry.id,
            model=entry.model,
            title=entry.title,
            source=shown.source if shown else "trained by lossatlas",
            labels=[f.stem for f in files],
            final_sha256=_sha256(final),
            grid=shown.grid if shown else None,
        )
        out.append((run, files, final))
    return out


def find_gallery_run(gallery_dir: Path, rid: str, model: str, models: list[str]) -> tuple[list[Path], Path, str]:
    """The path's files, the final model's file and a digest of them all (what a job on gallery run ``rid``
    is computed from): LookupError when unknown, ValueError when it is a run of another model."""
    found = {run.id: (run, files, final) for run, files, final in gallery_runs(gallery_dir, models)}
    if rid not in found:
        names = ", ".join(found) or "(none on this server)"
        raise LookupError(f"no gallery run {rid!r}; choose one of the runs in GET /api/checkpoints: {names}")
    run, files, final = found[rid]
    if run.model != model:
        raise ValueError(f"gallery run {rid} trained {run.model!r}, not {model!r}")
    digest = hashlib.sha256(" ".join([run.final_sha256, *(_sha256(f) for f in files)]).encode()).hexdigest()
    return files, final, digest
