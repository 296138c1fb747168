"""The viewer on the real precomputed gallery (precomputed/index.json), when it is there: every
with/without-shortcuts preset draws both surfaces, the tooltip reads the files, and the payload and
speed figures of issue 4 are measured on the real surfaces. Skipped when the gallery is absent."""

from __future__ import annotations

import json
import math

import httpx
import numpy as np
import pytest
from frontend_support import running, server_settings, viewer_on
from support import REPO

from workers import read_surface

pytestmark = pytest.mark.slow
GALLERY_DIR = REPO / "precomputed"


def _entries() -> list[dict]:
    try:
        entries = json.loads((GALLERY_DIR / "index.json").read_text())["entries"]
    except (OSError, ValueError, KeyError):
        return []
    return [e for e in entries if (GALLERY_DIR / e["file"]).is_file()]


ENTRIES = _entries()
if not ENTRIES:
    pytest.skip("no precomputed gallery (precomputed/index.json) in this checkout", allow_module_level=True)


@pytest.fixture(scope="module")
def real(tmp_path_factory, tensors_npz):
    """The server on the real gallery (no worker: nothing is computed here)."""
    settings = server_settings(tmp_path_factory.mktemp("realdata"), GALLERY_DIR, tensors_npz, embedded_worker=False)
    with running(settings) as base:
        yield base


@pytest.fixture
def page_on(browser, real):
    with viewer_on(browser, real, timeout_ms=30000) as viewer:
        yield viewer


def test_every_shortcut_preset_draws_both_surfaces(page_on):
    viewer = page_on
    viewer.open()
    assert viewer.errors == [] and viewer.state()["layers"]
    presets = viewer.page.eval_on_selector_all("[data-preset]", "(els) => els.map((e) => e.dataset.preset)")
    expected = [
        e["id"]
        for e in ENTRIES
        if e.get("pair") and e.get("shortcuts") is not False and any(p["id"] == e["pair"] for p in ENTRIES)
    ]
    assert sorted(presets) == sorted(expected)
    by_id = {e["id"]: e for e in ENTRIES}
    for sid in presets:
        viewer.click(f"[data-preset='{sid}']")
        state = viewer.state()
        assert state["ids"] == [sid, by_id[sid]["pair"]]
        for layer in state["layers"]:
            surface = read_surface(GALLERY_DIR / by_id[layer["id"]]["file"])
            assert layer["vertices"] == surface.done.size
            assert layer["drawn_vertices"] == int((surface.done & np.isfinite(surface.metrics["train_loss"])).sum())
    assert viewer.errors == []


def test_tooltip_reads_the_real_file(page_on):
    viewer = page_on
    entry = next(e for e in ENTRIES if read_surface(GALLERY_DIR / e["file"]).ycoordinates is not None)
    surface = read_surface(GALLERY_DIR / entry["file"])
    viewer.open(f"?s={entry['id']}")
    ny, nx = surface.done.shape
    ix, iy = next(
        (i, j)
        for j in (1, 2, 3)
        for i in (nx // 2, nx // 3, 2 * nx // 3)
        if viewer.screen(entry["id"], i, j)["visible"]
    )
    rows = viewer.hover(entry["id"], ix, iy)
    assert math.isclose(float(rows["x"]), surface.xcoordinates[ix], rel_tol=1e-5, abs_tol=1e-9)
    assert math.isclose(float(rows["y"]), surface.ycoordinates[iy], rel_tol=1e-5, abs_tol=1e-9)
    assert math.isclose(float(rows["value"].split()[0]), surface.metrics["train_loss"][iy, ix], rel_tol=2e-5)


def test_real_meshes_are_small_on_the_wire_and_six_overlays_load_quickly(page_on, real):
    sizes = {}
    for e in ENTRIES:
        with httpx.stream("GET", f"{real}/api/surfaces/{e['id']}", headers={"Accept-Encoding": "gzip"}) as r:
            r.raise_for_status()
            sizes[e["id"]] = sum(len(chunk) for chunk in r.iter_raw())
    grids = {e["id"]: read_surface(GALLERY_DIR / e["file"]).done.shape for e in ENTRIES}
    print(
        "\n"
        + "\n".join(
            f"{sid} {'x'.join(map(str, grids[sid]))}: {size / 1024:.1f} KiB gzipped" for sid, size in sizes.items()
        )
    )
    for sid, shape in grids.items():
        if shape[0] * (shape[1] if len(shape) > 1 else 1) <= 51 * 51:
            assert sizes[sid] < 100 * 1024, sid
    six = [e["id"] for e in ENTRIES][:6]
    page_on.open(f"?s={six[0]}")  # warm the browser
    seconds = page_on.open("?s=" + ",".join(six))
    assert [layer["id"] for layer in page_on.state()["layers"]] == six
    print(
        f"{len(six)} real gallery surfaces overlaid, ready in {seconds:.2f} s (not asserted: the machine's load sets it)"
    )


def test_the_page_opens_on_the_papers_comparison(page_on):
    """No query: the finest gallery surface whose no-shortcut twin exists, both, on a log scale."""
    viewer = page_on
    viewer.open()
    pairs = [e for e in ENTRIES if e.get("shortcuts") and e.get("pair") in {p["id"] for p in ENTRIES}]
    flagship = max(pairs, key=lambda e: read_surface(GALLERY_DIR / e["file"]).done.size)
    state = viewer.state()
    assert state["ids"] == [flagship["id"], flagship["pair"]]
    assert sorted(layer["id"] for layer in state["layers"]) == sorted(state["ids"])
    assert state["z"]["scale"] == "log"
    assert viewer.page.is_checked("#logz")


def test_a_gallery_training_path_is_drawn_and_hovered(page_on):
    """The committed CPU paths: each checkpoint's epoch and own train loss as the file holds them."""
    paths = [e for e in ENTRIES if read_surface(GALLERY_DIR / e["file"]).trajectory is not None]
    if not paths:
        pytest.skip("no training path in this gallery")
    viewer = page_on
    surface = read_surface(GALLERY_DIR / paths[0]["file"])
    t = surface.trajectory
    viewer.open(f"?s={paths[0]['id']}&v=map")
    state = viewer.state()
    assert state["paths"][0]["checkpoints"] == len(t.labels)
    assert state["axis_names"]["x"] == f"PC1, {100 * t.attrs['explained_variance_ratio_'][0]:.1f}%"
    for i in (0, len(t.labels) // 2, len(t.labels) - 1):
        at = viewer.page.evaluate("([s, i]) => window.__lossatlas.checkpointScreen(s, i)", [paths[0]["id"], i])
        viewer.page.mouse.move(at["x"] - 25, at["y"] - 25)
        viewer.page.mouse.move(at["x"], at["y"])
        viewer.page.wait_for_function("(i) => window.__lossatlas.state().hover?.i === i", arg=i)
        epoch = viewer.page.text_content("#tooltip [data-key=epoch] b")
        loss = viewer.page.text_content("#tooltip [data-key=train_loss] b")
        assert epoch == str(t.epochs[i])
        assert math.isclose(float(loss), t.metrics["train_loss"][i], rel_tol=1e-5)
    assert viewer.errors == []
