"""Uploaded files: saved under the data directory's tmp/, validated, then moved into place or deleted,
so a refused upload leaves nothing behind.

Surface files are checked by :mod:`server.surface_import`. Checkpoints are loaded with ``weights_only=True`` (no pickled code runs) into the zoo architecture they claim.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import HTTPException, UploadFile

from workers import load_model, one_line, sha256_file

from .schemas import TITLE_MAX, Checkpoint, Error, plain_title

CHUNK = 1 << 20
log = logging.getLogger("lossatlas.server")


@asynccontextmanager
async def saved_upload(upload: UploadFile, tmp_dir: Path, suffix: str) -> AsyncIterator[Path]:
    """The upload copied to a new file in ``tmp_dir`` (its size is capped by :class:`server.limits.BodyLimit`),
    for the block to check and move or link into place; deleted after it, whatever the block did."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"upload-{uuid.uuid4().hex}{suffix}"
    try:
        with open(path, "wb") as f:
            while chunk := await upload.read(CHUNK):
                f.write(chunk)
        if path.stat().st_size == 0:
            raise HTTPException(400, "the uploaded file is empty")
        yield path
    finally:
        path.unlink(missing_ok=True)


def upload_refusals(unusable: str, invalid: tuple[str, ...] = ()) -> dict[int | str, dict]:
    """The refusals an upload route documents (``responses=``): ``unusable`` says what of the file's content is
    refused (400), ``invalid`` what of the route's other fields (422), before what every upload refuses."""
    fields = ", ".join([*invalid, "a form field missing or one the route does not take"])
    return {
        400: {"model": Error, "description": f"{unusable}, an empty file, or a form that cannot be read"},
        413: {"model": Error, "description": "larger than max_upload_mb"},
        422: {"model": Error, "description": f"{fields}, or a file name with control or text-direction characters"},
    }


def upload_name(upload: UploadFile) -> str:
    """The uploaded file's name without its directories ("" without one), cut to a title's length: shown
    as a title, so 422 when it holds control or text-direction characters (:func:`server.schemas.plain_title`)."""
    try:
        return plain_title(Path(upload.filename or "").name)[:TITLE_MAX]
    except ValueError as e:
        raise HTTPException(422, f"the file's name {e}") from None


def check_unpacked_size(path: Path, limit_mb: int) -> None:
    """400 for a zip archive (torch.save's format) whose entries unpack to more than ``limit_mb`` MiB:
    torch.load unpacks every tensor in memory before any shape is checked, and a few KB of deflated zeros
    stand for gigabytes. torch.save stores its entries uncompressed: its files are never refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive: torch's legacy format, or not a checkpoint (loading it says why)
    if size > limit_mb * 2**20:
        raise HTTPException(
            400,
            f"the checkpoint unpacks to {size / 2**20:.1f} MiB, more than the server's limit max_upload_mb={limit_mb}; "
            "upload a file saved with torch.save(model.state_dict()) (uncompressed)",
        )


class IdTaken(Exception):
    """A different file's checkpoint has the id (the start of the sha256) of the file being added."""


def checkpoint_id(sha256: str) -> str:
    """A checkpoint's id: the start of its file's sha256."""
    return sha256[:16]


class CheckpointStore:
    """Uploaded checkpoints: ``checkpoints/<id>.pt`` with ``<id>.json`` naming the model they fit.
    The id is the start of the file's sha256: a checkpoint is its content, so the same file uploaded
    again (under any name) is the same checkpoint, kept as it was first recorded."""

    def __init__(self, root: Path):
        self.root = root
        self._reported: set[str] = set()  # unreadable records already logged

    def add(self, validated_tmp: Path, model: str, name: str | None = None) -> tuple[Checkpoint, bool]:
        """Validate that the file loads as weights of ``model`` (ValueError otherwise), then keep it:
        ``(checkpoint, True)``; ``(checkpoint, False)`` when the same file was uploaded before (its record
        unchanged: its first name stays; uploads racing each other record the first to finish).

        The id's file is created, never replaced: of two different files whose ids collide, uploaded at
        the same moment, the first to create it holds the id and the other is refused (:class:`IdTaken`),
        so that a record never names the other file's bytes."""
        load_model(model, validated_tmp)
        sha = sha256_file(validated_tmp)
        cid = checkpoint_id(sha)
        found = self.get(cid)
        if found is not None:
            return self._same_file(found[1], sha), False
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{cid}.pt"
        try:
            os.link(validated_tmp, path)  # only if there is none
        except FileExistsError:  # a racing upload's (or one cut short before its record): the same bytes?
            held = sha256_file(path)
            if held != sha:
                raise IdTaken(self._taken(cid, held, sha)) from None
        record = validated_tmp.with_suffix(".json")  # beside the upload: a unique name on the same disk
        try:
            record.write_text(json.dumps({"sha256": sha, "model": model, "name": name}))
            try:
                os.link(record, self.root / f"{cid}.json")  # whole and only if there is none
            except FileExistsError:
                found = self.get(cid)
                if found is not None:  # recorded by an upload of the same file racing this one
                    return self._same_file(found[1], sha), False
                os.replace(record, self.root / f"{cid}.json")  # an unreadable record: this upload repairs it
        finally:
            record.unlink(missing_ok=True)
        return Checkpoint(id=cid, sha256=sha, model=model, name=name), True

    @staticmethod
    def _taken(cid: str, held: str, sha: str) -> str:
        return (
            f"checkpoint id {cid} (the start of a file's sha256) is another file's already (sha256 {held}, "
            f"this one's {sha}): a 1 in 2^64 coincidence; this file cannot be uploaded"
        )

    def _same_file(self, found: Checkpoint, sha: str) -> Checkpoint:
        """The checkpoint recorded under this file's id, if it is this file; :class:`IdTaken` if another's."""
        if found.sha256 != sha:
            raise IdTaken(self._taken(found.id, found.sha256, sha))
        return found

    def get(self, cid: str) -> tuple[Path, Checkpoint] | None:
        """The file and record of a checkpoint id (ids are validated hex by the request model); None for
        an unreadable record too (an older version wrote records in place: a full disk cut them short),
        which uploading the file again repairs."""
        if not (len(cid) == 16 and all(c in "0123456789abcdef" for c in cid)):
            return None
        path, meta = self.root / f"{cid}.pt", self.root / f"{cid}.json"
        if not path.is_file() or not meta.is_file():
            return None
        try:
            record = json.loads(meta.read_text())
            return path, Checkpoint(id=cid, sha256=record["sha256"], model=record["model"], name=record.get("name"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            if meta.name not in self._reported:  # once, not at every listing
                self._reported.add(meta.name)
                log.warning("checkpoint record %s skipped (%s); upload the file again to repair it", meta, one_line(e))
            return None

    def all(self) -> list[Checkpoint]:
        """Every uploaded checkpoint, oldest first."""
        metas = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if self.root.is_dir() else []
        return [found[1] for m in metas if (found := self.get(m.stem)) is not None]


def clear_tmp(tmp_dir: Path) -> None:
    """Remove uploads left by a server that stopped mid-upload."""
    shutil.rmtree(tmp_dir, ignore_errors=True)
