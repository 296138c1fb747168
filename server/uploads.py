"""Uploaded files: saved under the data directory's tmp/, validated, then moved into place or deleted,
so a refused upload leaves nothing behind.

Surface files must be self-contained HDF5: an external link, external raw storage or a virtual dataset
would make the server read files of its own disk into a surface, so such files are refused. Checkpoints
are loaded with ``weights_only=True`` (no pickled code runs) into the zoo architecture they claim.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import h5py
from fastapi import HTTPException, UploadFile

from workers.checkpoints import load_model, sha256_file

from .schemas import Checkpoint

CHUNK = 1 << 20


async def save_upload(upload: UploadFile, tmp_dir: Path, suffix: str) -> Path:
    """Copy an upload to a new file in ``tmp_dir`` (its size is capped by :class:`server.limits.BodyLimit`)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"upload-{uuid.uuid4().hex}{suffix}"
    try:
        with open(path, "wb") as f:
            while chunk := await upload.read(CHUNK):
                f.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if path.stat().st_size == 0:
        path.unlink()
        raise HTTPException(400, "the uploaded file is empty")
    return path


def check_self_contained(path: Path) -> None:
    """Raise ValueError unless every object of the HDF5 file lives inside the file itself."""
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise ValueError("not a loss surface file: the file is not an HDF5 file") from None
    problems: list[str] = []

    def visit(group: h5py.Group, prefix: str) -> None:
        for name in group:
            link = group.get(name, getlink=True)
            where = f"{prefix}{name}"
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                problems.append(f"{where} is a link ({type(link).__name__})")
                continue
            obj = group[name]
            if isinstance(obj, h5py.Group):
                visit(obj, where + "/")
            elif isinstance(obj, h5py.Dataset):
                if obj.is_virtual or obj.id.get_create_plist().get_external_count() > 0:
                    problems.append(f"{where} keeps its data outside the file")

    with f:
        visit(f, "")
    if problems:
        raise ValueError(f"refused: the file is not self-contained ({'; '.join(problems[:3])})")


class CheckpointStore:
    """Uploaded checkpoints: ``checkpoints/<id>.pt`` with ``<id>.json`` naming the model they fit.
    The id is the start of the file's sha256, so uploading the same file twice gives the same id."""

    def __init__(self, root: Path):
        self.root = root

    def add(self, validated_tmp: Path, model: str) -> Checkpoint:
        """Validate that the file loads as weights of ``model`` (ValueError otherwise), then keep it."""
        load_model(model, validated_tmp)
        sha = sha256_file(validated_tmp)
        cid = sha[:16]
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / f"{cid}.json").write_text(json.dumps({"sha256": sha, "model": model}))
        os.replace(validated_tmp, self.root / f"{cid}.pt")
        return Checkpoint(id=cid, sha256=sha, model=model)

    def get(self, cid: str) -> tuple[Path, Checkpoint] | None:
        """The file and record of a checkpoint id (ids are validated hex by the request model)."""
        if not (len(cid) == 16 and all(c in "0123456789abcdef" for c in cid)):
            return None
        path, meta = self.root / f"{cid}.pt", self.root / f"{cid}.json"
        if not path.is_file() or not meta.is_file():
            return None
        record = json.loads(meta.read_text())
        return path, Checkpoint(id=cid, sha256=record["sha256"], model=record["model"])


def clear_tmp(tmp_dir: Path) -> None:
    """Remove uploads left by a server that stopped mid-upload."""
    shutil.rmtree(tmp_dir, ignore_errors=True)
