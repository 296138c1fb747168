"""``show(surface)`` in a notebook (#16): an iframe onto a local server that serves the viewer and the
surfaces given, a Surface object or a file, overlaid by the URL's state."""

from __future__ import annotations

import html
import re

import httpx
import numpy as np
import pytest

from server import notebook
from workers.h5io import Surface, read_surface, write_surface


@pytest.fixture
def shown(tmp_path):
    yield tmp_path
    notebook.stop()


def bowl(scale: float) -> Surface:
    xs = np.linspace(-1, 1, 5)
    X, Y = np.meshgrid(xs, xs)
    return Surface(
        xs,
        xs,
        {"train_loss": scale * (X**2 + Y**2)},
        np.ones((5, 5), dtype=bool),
        {"spec": {"model": f"bowl{scale:g}"}},
    )


def test_show_serves_the_viewer_on_the_given_surfaces(shown):
    path = shown / "b.h5"
    write_surface(path, bowl(2))
    viewer = notebook.show(bowl(1), path, log=True, metric="train_loss", height=400)
    frame = viewer._repr_html_()
    url = html.unescape(re.search(r'<iframe src="([^"]+)" width="100%" height="400"', frame).group(1))
    base, query = url.split("/?")
    ids = re.search(r"s=([^&]+)", query).group(1).split(",")
    assert "log=1" in query and "m=train_loss" in query and len(ids) == 2
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and "/static/main.js" in page.text
    assert httpx.get(base + "/static/main.js", timeout=10).status_code == 200
    for sid, want in zip(ids, (bowl(1), read_surface(path))):
        mesh = httpx.get(f"{base}/api/surfaces/{sid}", timeout=10).json()
        np.testing.assert_allclose(
            np.array(mesh["metrics"]["train_loss"], dtype=float), want.metrics["train_loss"], rtol=1e-6
        )
    assert notebook.show(bowl(1)).url.startswith(base)  # one server per kernel; same content, same id
    assert notebook.add(bowl(1)) == ids[0]


def test_show_refuses_nothing_and_missing_files(shown):
    with pytest.raises(ValueError, match="give at least one surface"):
        notebook.show()
    with pytest.raises(FileNotFoundError, match="surface file .*nope.h5 does not exist"):
        notebook.show(shown / "nope.h5")


def test_show_refuses_what_the_viewer_cannot_show_before_starting(shown):
    write_surface(shown / "b.h5", bowl(2))
    np.savez(shown / "data.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match=r"^data.npz is not an HDF5 file \("):
        notebook.show(shown / "b.h5", shown / "data.npz")
    with pytest.raises(ValueError, match=f"^{shown} is a directory; give a surface file"):
        notebook.show(shown)
    with pytest.raises(ValueError, match=r"^view must be one of 3d, map, 1d; got 'top'$"):
        notebook.show(bowl(1), view="top")
    with pytest.raises(ValueError, match=r"^no surface given has the metric 'eig_ratio'; they have train_loss$"):
        notebook.show(bowl(1), shown / "b.h5", metric="eig_ratio")
    assert notebook._running is None  # no server started, nothing copied


def test_a_server_on_another_data_dir_is_refused_and_stop_removes_its_temporary_one(shown):
    url = notebook.start()
    temporary = notebook._running.data_dir
    assert notebook.start(temporary) == url and notebook.start() == url
    with pytest.raises(ValueError, match=r"runs on .* already; stop\(\) it first to start one on .*mine"):
        notebook.start(shown / "mine")  # it would not have kept the surfaces there
    assert not (shown / "mine").exists()
    notebook.show(bowl(1))
    assert any(temporary.rglob("*.h5"))
    notebook.stop()
    assert not temporary.exists()
    notebook.start(shown / "mine")
    notebook.show(bowl(1))
    notebook.stop()
    assert any((shown / "mine").rglob("*.h5"))  # a directory of the caller's is kept


def test_shows_from_several_threads_each_serve_their_own_surface(shown):
    from concurrent.futures import ThreadPoolExecutor

    notebook.start()
    scales = [1 + i for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(lambda scale: notebook.add(bowl(scale), f"b{scale}"), scales))
    base = notebook.start()
    for sid, scale in zip(ids, scales):
        mesh = httpx.get(f"{base}/api/surfaces/{sid}", timeout=10).json()
        np.testing.assert_allclose(
            np.array(mesh["metrics"]["train_loss"], dtype=float), bowl(scale).metrics["train_loss"]
        )
    assert not list(notebook._running.surfaces_dir.glob(".incoming*"))
