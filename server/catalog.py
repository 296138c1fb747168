"""The catalog: surface files of the gallery (``precomputed/``, read-only) and of the data directory
(computed by jobs or imported by users), found by id.

Ids are slugs. A request's id is only ever looked up among the files found by scanning the two
directories, never joined onto a path, so no id can reach outside them; paths named in the gallery
index are resolved and checked to stay inside the gallery.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from workers import (
    Index,
    IndexEntry,
    Surface,
    atomic_path,
    default_dir_file,
    is_dir_file,
    one_line,
    read_surface,
    sha256_file,
    title_path,
)

from .mesh import summarize, to_mesh
from .schemas import GalleryInfo, SurfaceSummary

log = logging.getLogger("lossatlas.catalog")

ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


IMPORT_HEX = (8, 16, 64)  # digits of its file's sha256 that end an import's id: more where another file has fewer


def import_ids(name: str, sha256: str) -> list[str]:
    """The ids a surface file imported as ``name`` takes, in order: its name's slug and the start of its
    sha256, longer when the shorter id is another file's (two files whose sha256 start alike)."""
    return [f"{slugify(name, 60)}-{sha256[:n]}" for n in IMPORT_HEX]


def slugify(text: str, limit: int = 80) -> str:
    """``"ResNet-56 (no short)"`` -> ``"resnet-56-no-short"``; never empty."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:limit].strip("-._")
    return slug or "surface"


def is_surface_file(path: Path) -> bool:
    """Surface files, not direction files (``*.dirs.h5``) nor temporary or hidden files, nor directories."""
    return path.suffix == ".h5" and not is_dir_file(path) and not path.name.startswith(".") and path.is_file()


def unreadable_reason(entry: Entry, error: Exception) -> str:
    """Why a surface's file cannot be read, in one line, naming the file but not the server's path."""
    reason = str(error).split("\n")[0] or type(error).__name__
    return reason.replace(str(entry.path), entry.path.name)


@dataclass(frozen=True)
class Entry:
    """A surface file the catalog knows."""

    id: str
    path: Path
    source: Literal["gallery", "user"]
    name: str | None = None  # title given by the user or the gallery index
    dataset: str | None = None  # the server's name for the dataset, when a job or import recorded it
    gallery: GalleryInfo | None = None

    @property
    def meta_path(self) -> Path:
        return meta_path(self.path)


def meta_path(surface_path: Path) -> Path:
    """Sidecar of a user surface: ``<id>.meta.json`` with its title and dataset name (the queue removes
    that of a job that ended without a surface file)."""
    return title_path(surface_path)


def write_meta(surface_path: Path, name: str, dataset: str | None) -> None:
    surface_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(meta_path(surface_path)) as tmp:
        tmp.write_text(json.dumps({"name": name, "dataset": dataset}))


def _read_meta(surface_path: Path) -> dict:
    try:
        meta = json.loads(meta_path(surface_path).read_text())
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()  # FileNotFoundError: deleted since it was found (see Catalog.mesh)
    return st.st_mtime_ns, st.st_size


@dataclass(frozen=True)
class MeshBody:
    etag: str
    json: bytes
    gzip: bytes


class Catalog:
    """Finds, summarizes and serves surfaces; summaries and meshes are cached per file version."""

    def __init__(self, gallery_dir: Path, user_dir: Path, mesh_cache: int = 16):
        self.gallery_dir = gallery_dir
        self.user_dir = user_dir
        self._summaries: dict[Path, tuple[tuple[int, int], SurfaceSummary]] = {}
        self._meshes: OrderedDict[str, MeshBody] = OrderedDict()
        self._mesh_cache = mesh_cache
        self._reported: dict[Path, str] = {}
        self._lock = threading.Lock()  # guards the mesh cache only, never held while a file is read

    # -- finding files -------------------------------------------------------------------------

    def _gallery_index(self) -> list[IndexEntry]:
        index = self.gallery_dir / "index.json"
        if not index.is_file():
            return []
        try:
            raw = json.loads(index.read_text())
            return Index.model_validate(raw).entries
        except (ValueError, ValidationError, AttributeError) as e:
            log.warning("ignoring %s: %s", index, str(e).split("\n")[0])
            return []

    def _gallery(self) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        if not self.gallery_dir.is_dir():
            return out
        root = self.gallery_dir.resolve()
        indexed: set[Path] = set()
        for e in self._gallery_index():
            path = (root / e.file).resolve()
            if not ID_RE.match(e.id) or not path.is_relative_to(root) or not path.is_file():
                log.warning("gallery index entry %r (file %r) skipped: bad id or missing file", e.id, e.file)
                continue
            indexed.add(path)
            info = GalleryInfo(**e.model_dump(include=set(GalleryInfo.model_fields)))
            out[e.id] = Entry(e.id, path, "gallery", name=e.title, gallery=info)
        for path in sorted(root.rglob("*.h5")):
            if is_surface_file(path) and path.resolve() not in indexed:
                sid = slugify(path.relative_to(root).with_suffix("").as_posix().replace("/", "-"))
                out.setdefault(sid, Entry(sid, path.resolve(), "gallery"))
        return out

    def _user(self) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        if not self.user_dir.is_dir():
            return out
        for path in sorted(self.user_dir.glob("*.h5")):
            if is_surface_file(path) and ID_RE.match(path.stem):
                meta = _read_meta(path)
                out[path.stem] = Entry(path.stem, path, "user", name=meta.get("name"), dataset=meta.get("dataset"))
        return out

    def entries(self) -> dict[str, Entry]:
        """All surfaces by id; a gallery surface hides a user surface of the same id."""
        return {**self._user(), **self._gallery()}

    def get(self, surface_id: str) -> Entry | None:
        if not ID_RE.match(surface_id):
            return None
        return self.entries().get(surface_id)

    # -- reading -------------------------------------------------------------------------------

    def _read(self, entry: Entry) -> tuple[Surface, SurfaceSummary]:
        """The surface and its summary; ValueError for any file that cannot be read or summarized (a file
        that got in before imports were validated fully may lack any field), FileNotFoundError for one
        deleted since it was found."""
        try:
            surface = read_surface(entry.path)
            return surface, summarize(surface, entry.id, entry.source, entry.name, entry.dataset, entry.gallery)
        except Exception as e:
            if not entry.path.is_file():
                raise FileNotFoundError(f"surface {entry.id!r} was deleted") from None
            if isinstance(e, ValidationError):
                raise ValueError(f"{entry.path.name} is malformed ({one_line(e)})") from None
            if isinstance(e, ValueError):
                raise
            raise ValueError(f"{entry.path.name} is malformed ({type(e).__name__}: {e})") from None

    def summary(self, entry: Entry) -> SurfaceSummary:
        """Summary of a surface (raises ValueError for an unreadable file, FileNotFoundError for one deleted
        since it was found)."""
        stamp = _stamp(entry.path)
        cached = self._summaries.get(entry.path)
        if cached is not None and cached[0] == stamp and cached[1].id == entry.id:
            return cached[1]
        summary = self._read(entry)[1]
        self._summaries[entry.path] = (stamp, summary)
        return summary

    def summaries(self, model: str | None = None, dataset: str | None = None) -> list[SurfaceSummary]:
        """Readable surfaces, gallery first, filtered by model and dataset name."""
        return self.listing(model, dataset)[0]

    def listing(
        self, model: str | None = None, dataset: str | None = None
    ) -> tuple[list[SurfaceSummary], dict[str, str]]:
        """Readable surfaces as :meth:`summaries`, and the unreadable ones: ``{id: why}``."""
        out, unreadable = [], {}
        for entry in sorted(self.entries().values(), key=lambda e: (e.source != "gallery", e.id)):
            try:
                s = self.summary(entry)
            except FileNotFoundError:  # deleted since the directory was scanned: gone, not unreadable
                continue
            except (OSError, ValueError) as e:  # a broken, half-copied or malformed file must not hide the others
                reason = unreadable_reason(entry, e)
                if self._reported.get(entry.path) != reason:  # once per file and reason, not per request
                    log.warning("surface %s skipped: %s", entry.path, reason)
                    self._reported[entry.path] = reason
                unreadable[entry.id] = reason
                continue
            if (model is None or s.model == model) and (dataset is None or s.dataset == dataset):
                out.append(s)
        return out, unreadable

    def etag(self, entry: Entry) -> str:
        mtime, size = _stamp(entry.path)
        digest = hashlib.sha256(f"{entry.id}|{entry.path}|{mtime}|{size}|{entry.name}".encode()).hexdigest()
        return f'"{digest[:24]}"'

    def mesh(self, entry: Entry) -> MeshBody:
        """The mesh JSON of a surface, plain and gzipped, with its ETag (raises ValueError when unreadable,
        FileNotFoundError when deleted since it was found).
        A cache miss reads the file without holding the cache's lock: other meshes are served meanwhile."""
        etag = self.etag(entry)
        with self._lock:
            body = self._meshes.get(etag)
            if body is not None:
                self._meshes.move_to_end(etag)
                return body
        surface, summary = self._read(entry)
        raw = json.dumps(to_mesh(surface, summary), separators=(",", ":"), allow_nan=False).encode()
        body = MeshBody(etag, raw, gzip.compress(raw, compresslevel=6, mtime=0))
        with self._lock:
            self._meshes[etag] = body
            while len(self._meshes) > self._mesh_cache:
                self._meshes.popitem(last=False)
        return body

    # -- changing user surfaces ----------------------------------------------------------------

    def add(self, validated: Path, surface_id: str, name: str, dataset: str | None) -> Entry:
        """Move an already validated file into the user surfaces under ``surface_id``."""
        if not ID_RE.match(surface_id):
            raise ValueError(f"bad surface id {surface_id!r}")
        self.user_dir.mkdir(parents=True, exist_ok=True)
        dest = self.user_dir / f"{surface_id}.h5"
        write_meta(dest, name, dataset)
        os.replace(validated, dest)
        return Entry(surface_id, dest, "user", name=name, dataset=dataset)

    def imported_copy(self, sha256: str) -> Entry | None:
        """The user surface imported from a file of this content, if any: an import's id ends with the start
        of its file's sha256 (:func:`import_ids`), and its file is kept as uploaded."""
        for entry in self._user().values():
            if any(entry.id.endswith(f"-{sha256[:n]}") for n in IMPORT_HEX):
                try:
                    if sha256_file(entry.path) == sha256:
                        return entry
                except OSError:  # deleted since it was found
                    continue
        return None

    def delete(self, entry: Entry) -> None:
        """Remove a user surface with its direction file and sidecar."""
        if entry.source != "user":
            raise PermissionError(f"surface {entry.id!r} belongs to the gallery and cannot be deleted")
        for path in (entry.path, default_dir_file(entry.path), entry.meta_path):
            path.unlink(missing_ok=True)
        self._summaries.pop(entry.path, None)
