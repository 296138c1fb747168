"""GET /api/surfaces/{id}/file while a job rewrites the file: the download is one whole version of it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from serverkit import ThreadServer, make_settings

from workers import read_surface
from workers.h5io import Surface, write_surface


def _version(path: Path, done: int) -> bytes:
    """A 1-D surface file with ``done`` of its 9 points finished, as a running job writes it after each."""
    xs = np.linspace(-1, 1, 9)
    finished = np.arange(9) < done
    loss = np.where(finished, xs**2, np.nan)
    attrs = {"elapsed_s": float(done), "log": "a point\n" * 200 * done}  # the file grows with its points
    write_surface(path, Surface(xs, None, {"train_loss": loss}, finished, {"spec": {"model": "bowl"}}, attrs))
    return path.read_bytes()


class RewrittenAsTheResponseStarts:
    """The app, with the surface file replaced by the job's next version (a new file renamed over it, as a
    worker writes) after the route has answered and before the response's body is read."""

    def __init__(self, app, path: Path, next_version: bytes):
        self.app, self.path, self.next_version = app, path, next_version

    async def __call__(self, scope, receive, send):
        async def send_after_the_rewrite(message):
            if message["type"] == "http.response.start" and scope["path"].endswith("/file"):
                tmp = self.path.with_name(".next.tmp")
                tmp.write_bytes(self.next_version)
                os.replace(tmp, self.path)
            await send(message)

        await self.app(scope, receive, send_after_the_rewrite)


def test_a_download_while_the_file_is_rewritten_is_the_version_asked_for_whole(tmp_path: Path, tiny_npz: Path):
    """The file's size was taken when the route answered and the file opened again by name to be sent: the
    next version came instead, longer or shorter than said (a broken download), or two versions' bytes."""
    settings = make_settings(tmp_path / "data", tiny_npz)
    settings.surfaces_dir.mkdir(parents=True)
    path = settings.surfaces_dir / "growing.h5"
    nxt = _version(tmp_path / "next.h5", 7)  # a few points later
    first = _version(path, 3)
    assert len(nxt) != len(first)
    server = ThreadServer(settings)
    server.server.config.app = RewrittenAsTheResponseStarts(server.server.config.app, path, nxt)
    with server, server.client() as c:
        r = c.get("/api/surfaces/growing/file")
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-hdf5"
        assert r.headers["content-disposition"] == 'attachment; filename="growing.h5"'
        assert int(r.headers["content-length"]) == len(first)
        assert r.content == first
        (tmp_path / "got.h5").write_bytes(r.content)
        assert int(read_surface(tmp_path / "got.h5").done.sum()) == 3
        assert path.read_bytes() == nxt  # rewritten meanwhile; the next download is that version
        assert c.get("/api/surfaces/growing/file").content == nxt
