"""The interactive viewer inline in a notebook: ``show(surface)`` returns an iframe onto a local lossatlas
server (started once per kernel, in a thread, on a free loopback port, without a worker) that serves the
given surfaces beside the gallery. The same three.js viewer as ``lossatlas serve``; nothing is uploaded.

    from server.notebook import show
    show(surface)                       # a Surface, or the path of a surface file
    show("a.h5", "b.h5", log=True)      # overlaid, log z
"""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from workers import Surface, counted, ordered_metrics, read_surface, write_surface

from .catalog import slugify, write_meta
from .settings import Settings


@dataclass
class _Running:
    url: str
    data_dir: Path
    surfaces_dir: Path
    server: object  # uvicorn.Server
    thread: threading.Thread
    temporary: bool  # data_dir was made by start(): removed by stop()
    listening: socket.socket  # bound here and handed to uvicorn: no other process can take its port meanwhile


_running: _Running | None = None
_lock = threading.Lock()
VIEWS = ("3d", "map", "1d")  # the viewer's (frontend/urlstate.js)


def start(data_dir: str | Path | None = None) -> str:
    """Start the notebook's server if it is not running; returns its URL. ``data_dir``: where it keeps the
    surfaces shown (default: a temporary directory, removed by :func:`stop`)."""
    global _running
    import uvicorn

    from .app import create_app

    with _lock:
        if _running is not None and _running.thread.is_alive():
            if data_dir is not None and Path(data_dir).resolve() != _running.data_dir.resolve():
                raise ValueError(
                    f"the notebook's viewer server runs on {_running.data_dir} already; stop() it first to start "
                    f"one on {data_dir}"
                )
            return _running.url
        temporary = data_dir is None
        data = Path(tempfile.mkdtemp(prefix="lossatlas-notebook-")) if temporary else Path(data_dir)
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        settings = Settings(data_dir=data, host="127.0.0.1", port=port, embedded_worker=False)
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [listening]}, name="lossatlas-notebook", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                listening.close()
                raise RuntimeError(f"the lossatlas viewer server did not start on port {port}")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        _running = _Running(url, data, settings.surfaces_dir, server, thread, temporary, listening)
        return _running.url


def stop() -> None:
    """Stop the notebook's server (a later ``show`` starts a new one) and remove its temporary directory."""
    global _running
    with _lock:
        if _running is not None:
            _running.server.should_exit = True
            _running.thread.join(10)
            _running.listening.close()
            if _running.temporary:
                shutil.rmtree(_running.data_dir, ignore_errors=True)
            _running = None


def add(surface: Surface | str | Path, name: str | None = None) -> str:
    """Put a surface among the server's user surfaces; returns its id (same content, same id)."""
    if not isinstance(surface, Surface):
        _read(Path(surface))  # refused before the server starts
    return _add(surface, name)


def _add(surface: Surface | str | Path, name: str | None) -> str:
    """:func:`add` of a surface already checked."""
    start()
    assert _running is not None
    _running.surfaces_dir.mkdir(parents=True, exist_ok=True)
    # hidden (the catalog skips it) and its own: shows in other threads, or kernels on one data_dir, may add too
    fd, name_tmp = tempfile.mkstemp(prefix=".incoming-", suffix=".h5", dir=_running.surfaces_dir)
    os.close(fd)
    tmp = Path(name_tmp)
    try:
        if isinstance(surface, Surface):
            write_surface(tmp, surface)
            label = name or surface.recipe.get("spec", {}).get("model") or "surface"
        else:
            path = Path(surface)
            shutil.copyfile(path, tmp)
            label = name or path.stem
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:10]
        sid = f"{slugify(label, 60)}-{digest}"
        dest = _running.surfaces_dir / f"{sid}.h5"
        write_meta(dest, label, None)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return sid


def _read(path: Path) -> Surface:
    """A surface file as read: one that does not exist or is no surface is refused before the viewer sees it."""
    if not path.exists():
        raise FileNotFoundError(f"surface file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a surface file (.h5) in it")
    return read_surface(path)


@dataclass
class Viewer:
    """What ``show`` returns: notebooks display it as the viewer in an iframe; ``url`` opens it elsewhere."""

    url: str
    width: str = "100%"
    height: int = 600

    def _repr_html_(self) -> str:
        return (
            f'<iframe src="{html.escape(self.url)}" width="{html.escape(self.width)}" height="{self.height}" '
            'style="border:0" allowfullscreen></iframe>'
        )

    def __repr__(self) -> str:
        return f"Viewer({self.url})"


def show(
    *surfaces: Surface | str | Path,
    names: list[str] | None = None,
    metric: str | None = None,
    log: bool = False,
    view: str | None = None,
    width: str = "100%",
    height: int = 600,
) -> Viewer:
    """The viewer on ``surfaces`` (overlaid), for display in a notebook cell.

    ``metric`` (``train_loss`` ...), ``log`` (log z) and ``view`` (``3d``, ``map``, ``1d``) set the
    viewer's initial state, as its shareable URLs do.
    """
    if not surfaces:
        raise ValueError("give at least one surface (a Surface or the path of a surface file)")
    if names is not None and len(names) != len(surfaces):
        raise ValueError(f"{counted(len(names), 'name')} for {counted(len(surfaces), 'surface')}")
    if view is not None and view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}; got {view!r}")
    read = [s if isinstance(s, Surface) else _read(Path(s)) for s in surfaces]  # all checked before any is added
    shown = {m for s in read for m in ordered_metrics(s)}
    if metric is not None and metric not in shown:
        raise ValueError(f"no surface given has the metric {metric!r}; they have {', '.join(sorted(shown))}")
    ids = [_add(s, names[i] if names else None) for i, s in enumerate(surfaces)]
    query = {"s": ",".join(ids)}
    if metric:
        query["m"] = metric
    if log:
        query["log"] = "1"
    if view:
        query["v"] = view
    return Viewer(f"{start()}/?{urlencode(query, safe=',')}", width, height)
