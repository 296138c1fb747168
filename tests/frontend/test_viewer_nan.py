"""Points whose value is NaN (or infinite) in the viewer: the title and the details count them and, where the
engine predicted them (the summary's ``negative_variance_points``), say why; the contour map hatches them,
the 1-D view marks them on its x axis and the tooltip names them. The surfaces come from the real engine:
``states`` directions with ``ignore`` none scale BatchNorm running variances by (1 + x + y), which is below
zero where x + y < -1, and the loss is NaN there; an interpolation (``target``, ``states``) to a model
whose running variances are 3.1 and 0.3 times the first's takes some below zero past its ends."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from frontend_support import GALLERY, running, server_settings, viewer_on
from PIL import Image

from workers import SurfaceSpec, compute_surface, read_surface
from workers.checkpoints import load_model

pytestmark = pytest.mark.slow
TITLE = "TinyCNN with NaN points"


@pytest.fixture(scope="module")
def nan_gallery(tmp_path_factory, gallery, tensors_npz) -> Path:
    root = tmp_path_factory.mktemp("nan-gallery")
    spec = SurfaceSpec(
        model="tinycnn",
        dataset="tensors",
        data_root=str(tensors_npz),
        batch_size=64,
        x="-1:1:11",
        y="-1:1:11",
        directions={"seed": 0, "dir_type": "states", "ignore": "none"},
    )
    target = load_model("tinycnn", None)
    with torch.no_grad():
        for bn in (target.bn1, target.bn2):  # some variances grow (x 3.1), others shrink (x 0.3)
            bn.running_var[::2] *= 3.1
            bn.running_var[1::2] *= 0.3
    torch.save(target.state_dict(), root / "target.pt")
    line = SurfaceSpec(
        model="tinycnn",
        dataset="tensors",
        data_root=str(tensors_npz),
        batch_size=64,
        x="-1:2:13",
        directions={"kind": "target", "target": str(root / "target.pt")},
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for s, name in ((spec, "nan"), (line, "line")):
            with pytest.warns(UserWarning, match="running variance below zero"):
                compute_surface(s, root / f"{name}.h5")
    finally:
        torch.set_num_threads(threads)
    shutil.copy(gallery / "pair-a.h5", root / "pair-a.h5")
    entries = [
        {"id": "nan", "file": "nan.h5", "title": TITLE, "tier": "cpu", "source": "tests"},
        {"id": "pair-a", "file": "pair-a.h5", "title": GALLERY["pair-a"][0], "tier": "cpu", "source": "tests"},
        {"id": "line", "file": "line.h5", "title": "TinyCNN interpolation", "tier": "cpu", "source": "tests"},
    ]
    (root / "index.json").write_text(json.dumps({"entries": entries}))
    return root


@pytest.fixture(scope="module")
def nan_server(tmp_path_factory, nan_gallery, tensors_npz):
    settings = server_settings(tmp_path_factory.mktemp("nan-data"), nan_gallery, tensors_npz, embedded_worker=False)
    with running(settings) as base:
        yield base


@pytest.fixture
def nan_viewer(browser, nan_server):
    with viewer_on(browser, nan_server) as viewer:
        yield viewer


@pytest.fixture(scope="module")
def nan_file(nan_gallery):
    return read_surface(nan_gallery / "nan.h5")


def expected_lines(surface, predicted: int | None) -> dict[str, str | None]:
    """The title's NaN line for each metric, from the file alone (``predicted``: the API's count, or None)."""
    total = surface.done.size
    lines = {}
    for metric, values in surface.metrics.items():
        count = int((surface.done & ~np.isfinite(values)).sum())
        if predicted and count == predicted:
            lines[metric] = (
                f"{count} of {total} points are NaN (not drawn): they move a BatchNorm running variance below zero"
            )
        else:
            parts = [f"{count} of {total} points are NaN or infinite (not drawn)"] if count else []
            if predicted:
                parts.append(
                    f"{predicted} of {total} points move a BatchNorm running variance below zero, where every metric is NaN"
                )
            lines[metric] = "; ".join(parts) or None
    return lines


def nan_lines(page) -> list[str]:
    return page.locator("#title .nan-warning").all_inner_texts()


def test_the_title_and_the_details_count_the_nan_points_and_say_why(nan_viewer, nan_server, nan_file):
    """The count is the file's; the reason is given where the API's summary carries the engine's prediction
    (an older server's summary lacks it: the count alone)."""
    predicted = httpx.get(f"{nan_server}/api/surfaces/nan").json()["summary"].get("negative_variance_points")
    assert predicted == nan_file.attrs["negative_variance_points"] > 0
    x, y = np.meshgrid(nan_file.xcoordinates, nan_file.ycoordinates)
    assert (np.isnan(nan_file.metrics["train_loss"]) == (x + y < -1 - 1e-9)).all()  # the engine's NaN points
    lines = expected_lines(nan_file, predicted)
    assert lines["train_loss"] == lines["train_acc"]  # NaN logits: no prediction, no accuracy
    page = nan_viewer.page
    for metric in ("train_loss", "train_acc"):
        nan_viewer.open(f"?s=nan&m={metric}")
        assert nan_lines(page) == ([f"⚠ {lines[metric]}"] if lines[metric] else []), metric
        details = dict(
            row.split("\t", 1)
            for row in page.locator("#details article[data-id=nan] table").first.inner_text().splitlines()
        )
        assert details.get("NaN points") == lines[metric], details
    nan_viewer.open("?s=nan,pair-a")  # beside another surface the line names its own
    assert nan_lines(page) == [f"⚠ {TITLE}: {lines['train_loss']}"]
    layer = nan_viewer.layer("nan")
    assert layer["drawn_vertices"] == int(np.isfinite(nan_file.metrics["train_loss"]).sum())
    nan_viewer.open("?s=pair-a")
    assert nan_lines(page) == []
    assert nan_viewer.errors == []


def test_diverged_points_are_counted_without_a_reason(viewer, surfaces):
    """A diverged surface's infinite or NaN losses are counted; the engine predicted none of them."""
    s = surfaces["diverged"]
    count = int((s.done & ~np.isfinite(s.metrics["train_loss"])).sum())
    assert 0 < count < s.done.size and s.attrs["negative_variance_points"] == 0
    viewer.open("?s=diverged")
    assert nan_lines(viewer.page) == [f"⚠ {count} of {s.done.size} points are NaN or infinite (not drawn)"]
    assert viewer.errors == []


def test_the_map_hatches_nan_points_and_the_tooltip_names_them(nan_viewer, nan_file):
    z = nan_file.metrics["train_loss"]
    nan_viewer.open("?s=nan&v=map")
    page = nan_viewer.page
    gaps = page.evaluate("() => window.__lossatlas.gaps()")
    assert sorted((g["ix"], g["iy"]) for g in gaps) == sorted((int(ix), int(iy)) for iy, ix in np.argwhere(np.isnan(z)))
    # The hatching is drawn: light diagonals over the corner x = y = -1, where the plot was the background.
    corner = next(g for g in gaps if (g["ix"], g["iy"]) == (0, 0))
    png = page.screenshot(clip={"x": corner["x"], "y": corner["y"] - 16, "width": 16, "height": 16})
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    hatched = np.abs(pixels - np.array([0x9A, 0xA5, 0xB8])).sum(axis=2) <= 60
    assert 0.1 < hatched.mean() < 0.7, hatched.mean()
    rows = nan_viewer.hover("nan", 1, 2)
    assert np.isnan(z[2, 1]) and rows["value"] == "NaN or infinite (not drawn)"
    assert np.isnan(nan_file.metrics["train_acc"][2, 1]) and rows["train_acc"] == "NaN or infinite"  # no prediction
    finite = next((ix, iy) for iy, ix in np.argwhere(np.isfinite(z)))
    rows = nan_viewer.hover("nan", *map(int, finite))
    assert float(rows["train_acc"].split()[0]) == pytest.approx(nan_file.metrics["train_acc"][finite[1], finite[0]])
    assert nan_viewer.errors == []


def test_the_1d_view_marks_nan_points_on_its_x_axis(nan_viewer, nan_file):
    z = nan_file.metrics["train_loss"]
    nan_viewer.open("?s=nan&v=map")
    iy = 1  # y = -0.8: NaN where x < -0.2
    ix = next(i for i in range(z.shape[1]) if np.isfinite(z[iy, i]))
    nan_viewer.hover("nan", ix, iy)  # the slice goes through the row hovered
    nan_viewer.click("[data-view='1d']")
    page = nan_viewer.page
    gaps = page.evaluate("() => window.__lossatlas.gaps()")
    assert [(g["ix"], g["iy"]) for g in gaps] == [(int(i), iy) for i in np.flatnonzero(np.isnan(z[iy]))]
    plot = page.evaluate("() => window.__lossatlas.plotRect()")
    x0, x1 = nan_file.xcoordinates[0], nan_file.xcoordinates[-1]
    for g in gaps:  # on the x axis, under its x
        at = plot["left"] + (nan_file.xcoordinates[g["ix"]] - x0) / (x1 - x0) * (plot["right"] - plot["left"])
        assert g["x"] == pytest.approx(at, abs=0.5) and plot["bottom"] - 10 < g["y"] < plot["bottom"]
    assert nan_viewer.screen("nan", ix, iy) is not None  # the curve is drawn where the values are
    nan_viewer.open("?s=nan&v=1d")  # the slice through y = 0 has no NaN point: no mark
    assert page.evaluate("() => window.__lossatlas.gaps()") == []
    assert nan_viewer.errors == []


def test_an_interpolation_says_where_its_axis_goes_and_marks_its_nan_ends(nan_viewer, nan_server, nan_gallery):
    """A 1-D interpolation to a target: its axis runs from the model to the target, unnormalized (it read
    "directions 1 and 2, filter-normalized (target)", and the details a norm and a seed that do not apply);
    past its ends the running variances turn negative: those points are crossed on the axis and counted."""
    s = read_surface(nan_gallery / "line.h5")
    xs = s.xcoordinates
    nan = (xs < -1 / 2.1) | (xs > 1 / 0.7)  # a grown variance v (1 + 2.1 x), a shrunk one v (1 - 0.7 x), below 0
    np.testing.assert_array_equal(np.isnan(s.metrics["train_loss"]), nan)
    predicted = httpx.get(f"{nan_server}/api/surfaces/line").json()["summary"].get("negative_variance_points")
    nan_viewer.open("?s=line")
    page = nan_viewer.page
    assert nan_viewer.state()["view"] == "1d"
    assert page.locator("#title").inner_text().splitlines() == [
        "TinyCNN interpolation",
        "train loss",
        "x: from the model (x = 0) to the target (x = 1), unnormalized",
        f"⚠ {expected_lines(s, predicted)['train_loss']}",
    ]
    assert page.evaluate("() => window.__lossatlas.flatAxes().x") == "direction 1, to the target (unnormalized)"
    details = dict(
        row.split("\t", 1)
        for row in page.locator("#details article[data-id=line] table").first.inner_text().splitlines()
    )
    assert details["directions"] == "target: x to target.pt (unnormalized), states"
    gaps = page.evaluate("() => window.__lossatlas.gaps()")
    assert [g["ix"] for g in gaps] == np.flatnonzero(nan).tolist()
    assert nan_viewer.errors == []
