"""Training paths on PCA surfaces (issue 14): the path drawn on the contour map and in 3-D at each
checkpoint's own loss, a real mouse hover on a checkpoint showing its epoch, loss and accuracy as the
surface file holds them, axes labelled with the explained variance, and paths overlaid only when their
surfaces share a plane. The surfaces come from the real engine: two real `train` runs of a tiny CNN with
a checkpoint per epoch, and `compute_trajectory` on them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from frontend_support import VIEWPORT, Viewer, running, server_settings, viewer_on

from workers import read_surface
from workers.train import TrainConfig, train
from workers.trajectory import compute_trajectory

pytestmark = pytest.mark.slow

# path-a: run A in its own PCA plane; path-b: run B projected on path-a's plane (its direction file and
# its centre, run A's final model); path-c: run B in its own plane (another plane: not overlaid).
TITLES = {
    "path-a": "TinyCNN path, batch 4",
    "path-b": "TinyCNN path, batch 16, on batch 4's plane",
    "path-c": "TinyCNN path, batch 16",
}


@pytest.fixture(scope="module")
def path_gallery(tmp_path_factory, tensors_npz: Path) -> Path:
    root = tmp_path_factory.mktemp("paths")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for batch in (4, 16):
            config = TrainConfig(
                model="tinycnn",
                dataset="tensors",
                data_root=str(tensors_npz),
                epochs=4,
                lr=0.05,
                batch_size=batch,
                augment=False,
                save_every=1,
                milestones=(0.5,),
            )
            train(config, root / f"run{batch}", log=lambda _: None)
        common = dict(model="tinycnn", dataset="tensors", data_root=str(tensors_npz), split="both", batch_size=64)
        compute_trajectory(
            {**common, "directions": {"kind": "pca", "checkpoints": [str(root / "run4")]}}, root / "path-a.h5", num=9
        )
        compute_trajectory(
            {
                **common,
                "directions": {"kind": "pca", "checkpoints": [str(root / "run16")]},
                "dir_file": str(root / "path-a.dirs.h5"),
                "checkpoint": str(root / "run4" / "epoch_4.pt"),
            },
            root / "path-b.h5",
            num=9,
        )
        compute_trajectory(
            {**common, "directions": {"kind": "pca", "checkpoints": [str(root / "run16")]}}, root / "path-c.h5", num=9
        )
    finally:
        torch.set_num_threads(threads)
    entries = [
        {"id": sid, "file": f"{sid}.h5", "title": title, "tier": "cpu", "source": "tests"}
        for sid, title in TITLES.items()
    ]
    (root / "index.json").write_text(json.dumps({"entries": entries}))
    return root


@pytest.fixture(scope="module")
def path_server(tmp_path_factory, path_gallery: Path, tensors_npz: Path):
    settings = server_settings(tmp_path_factory.mktemp("pathdata"), path_gallery, tensors_npz, embedded_worker=False)
    with running(settings) as base:
        yield base


@pytest.fixture
def paths_viewer(browser, path_server):
    with viewer_on(browser, path_server) as viewer:
        yield viewer


@pytest.fixture(scope="module")
def files(path_gallery: Path) -> dict:
    """The surface files as the engine reads them: the source of every expected value."""
    return {sid: read_surface(path_gallery / f"{sid}.h5") for sid in TITLES}


def number(text: str) -> float:
    return float(text.split()[0].replace("−", "-"))


def hover_checkpoint(viewer: Viewer, sid: str, i: int) -> dict[str, str]:
    """Move the real mouse onto checkpoint ``i`` of ``sid``'s path; the tooltip's rows by data-key."""
    at = viewer.page.evaluate("([s, i]) => window.__lossatlas.checkpointScreen(s, i)", [sid, i])
    assert at is not None, f"checkpoint {i} of {sid} is not drawn"
    viewer.page.mouse.move(at["x"] - 30, at["y"] - 30)
    viewer.page.mouse.move(at["x"], at["y"])
    viewer.page.wait_for_function(
        "([s, i]) => { const h = window.__lossatlas.state().hover; return h && h.path === s && h.i === i; }",
        arg=[sid, i],
    )
    return viewer.page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#tooltip [data-key]')].map("
        "(e) => [e.dataset.key, e.querySelector('b') ? e.querySelector('b').textContent : e.textContent]))"
    )


def assert_checkpoint_rows(rows: dict[str, str], t, i: int) -> None:
    assert rows["checkpoint"] == t.labels[i]
    assert rows["epoch"] == str(t.epochs[i])
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert math.isclose(number(rows[name]), t.metrics[name][i], rel_tol=1e-5, abs_tol=1e-9), (name, rows)
    assert math.isclose(number(rows["x"]), t.x[i], rel_tol=1e-5, abs_tol=1e-9)
    assert math.isclose(number(rows["y"]), t.y[i], rel_tol=1e-5, abs_tol=1e-9)
    assert rows["place"] == ("start" if i == 0 else "end" if i == len(t.labels) - 1 else f"{i + 1} of {len(t.labels)}")


def pc_names(t) -> dict[str, str]:
    a, b = t.attrs["explained_variance_ratio_"][:2]
    return {"x": f"PC1, {100 * a:.1f}%", "y": f"PC2, {100 * b:.1f}%"}


def test_the_path_on_the_map_with_its_checkpoints_values(paths_viewer, files, tmp_path):
    t = files["path-a"].trajectory
    assert t.epochs.tolist() == [0, 1, 2, 3, 4]  # the run's epoch_0 ... epoch_4, in order
    paths_viewer.open("?s=path-a&v=map")
    state = paths_viewer.state()
    assert [p["id"] for p in state["paths"]] == ["path-a"] and state["paths"][0]["checkpoints"] == 5
    assert state["axis_names"] == pc_names(t)
    assert state["axis_names"]["x"].startswith("PC1, ") and state["axis_names"]["x"].endswith("%")
    for i in range(5):
        assert_checkpoint_rows(hover_checkpoint(paths_viewer, "path-a", i), t, i)
    hover = paths_viewer.state()["hover"]
    assert hover["metrics"] == pytest.approx({k: v[4] for k, v in t.metrics.items()}, rel=1e-6) and hover["epoch"] == 4
    labels = paths_viewer.page.evaluate(  # words, not the ids
        "() => Object.fromEntries([...document.querySelectorAll('#tooltip [data-key] span')].map("
        "(e) => [e.parentElement.dataset.key, e.textContent]))"
    )
    assert [labels[m] for m in ("train_loss", "train_acc", "test_loss", "test_acc")] == [
        "train loss",
        "train acc",
        "test loss",
        "test acc",
    ]
    # Away from the path the map hovers the surface again.
    rows = paths_viewer.hover("path-a", 0, 8)
    assert math.isclose(number(rows["value"]), files["path-a"].metrics["train_loss"][8, 0], rel_tol=1e-5)
    paths_viewer.page.screenshot(path=str(tmp_path / "path-map.png"))
    assert paths_viewer.errors == []


def test_the_path_in_3d_at_each_checkpoints_own_loss(paths_viewer, files, tmp_path):
    s = files["path-a"]
    t = s.trajectory
    paths_viewer.open("?s=path-a")
    state = paths_viewer.state()
    path = state["paths"][0]
    assert path["drawn_3d"] == 5
    assert (t.x[-1], t.y[-1]) == (0, 0)  # the last checkpoint is the final model, the surface's centre
    # Each height is that checkpoint's own train loss on the (linear) z scale of the surface and its path.
    both = np.concatenate([s.metrics["train_loss"].ravel(), t.metrics["train_loss"]])
    lo, hi = np.nanmin(both), np.nanmax(both)
    for i, h in enumerate(path["heights"]):
        assert math.isclose(h, (t.metrics["train_loss"][i] - lo) / (hi - lo), abs_tol=1e-5), (i, h)
    assert state["axis_names"] == pc_names(t)
    for i in (0, 2):
        assert_checkpoint_rows(hover_checkpoint(paths_viewer, "path-a", i), t, i)
    paths_viewer.page.screenshot(path=str(tmp_path / "path-3d.png"))
    # Another metric: the path follows it.
    paths_viewer.page.select_option("#metric", "test_acc")
    paths_viewer.wait_ready()
    heights = paths_viewer.state()["paths"][0]["heights"]
    acc = np.concatenate([s.metrics["test_acc"].ravel(), t.metrics["test_acc"]])
    expected = (t.metrics["test_acc"] - np.nanmin(acc)) / (np.nanmax(acc) - np.nanmin(acc))
    assert np.allclose(heights, expected, atol=1e-5)
    assert paths_viewer.errors == []


def test_paths_sharing_a_plane_are_overlaid_and_others_are_said_apart(paths_viewer, files, tmp_path):
    a, b = files["path-a"], files["path-b"]
    assert a.recipe["dir_file_sha256"] == b.recipe["dir_file_sha256"]
    assert a.recipe["checkpoint_sha256"] == b.recipe["checkpoint_sha256"]
    paths_viewer.open("?s=path-a,path-b&v=map")
    state = paths_viewer.state()
    assert [p["id"] for p in state["paths"]] == ["path-a", "path-b"]
    assert state["paths"][0]["plane"] == state["paths"][1]["plane"]
    assert state["notes"] == []
    assert state["axis_names"] == pc_names(a.trajectory)
    assert_checkpoint_rows(hover_checkpoint(paths_viewer, "path-b", 1), b.trajectory, 1)
    paths_viewer.page.screenshot(path=str(tmp_path / "paths-overlaid.png"))

    assert paths_viewer.page.locator("#title .directions-warning").count() == 0

    paths_viewer.open("?s=path-a,path-c&v=map")
    state = paths_viewer.state()
    assert state["paths"][0]["plane"] != state["paths"][1]["plane"]
    assert paths_viewer.page.locator("#title .directions-warning").inner_text() == APART
    assert state["axis_names"] == {"x": "PC1 of each surface’s own path", "y": "PC2 of each surface’s own path"}
    assert paths_viewer.errors == []


APART = "⚠ these training paths lie in different planes (other directions or another centre): their coordinates do not compare"


@pytest.mark.parametrize("view", ["map", "3d"])
def test_the_paths_apart_warning_covers_no_part_of_a_phones_view(paths_viewer, view):
    """On a phone the notice that two paths lie in different planes was a banner over the map until closed:
    it is a line of the title, which the map and the 3-D view start below (each path's checkpoints are all
    in view and none under the title), and it stays as long as those paths are shown."""
    page = paths_viewer.page
    page.set_viewport_size({"width": 390, "height": 844})
    paths_viewer.open(f"?s=path-a,path-c&v={view}")
    assert page.locator("#error").is_hidden() and paths_viewer.state()["notes"] == []
    title = page.locator("#title .directions-warning")
    assert title.inner_text() == APART
    box = page.locator("#title").bounding_box()
    below = box["y"] + box["height"]
    for sid in ("path-a", "path-c"):
        for i in range(5):
            at = page.evaluate("([s, i]) => window.__lossatlas.checkpointScreen(s, i)", [sid, i])
            assert at["y"] > below and 0 <= at["x"] <= 390, (sid, i, at, box)
    if view == "map":
        assert page.evaluate("() => window.__lossatlas.plotRect()")["top"] >= below
    assert paths_viewer.errors == []


@pytest.mark.parametrize("size", [VIEWPORT, {"width": 390, "height": 844}])
def test_checkpoint_labels_on_the_map_never_overlap(paths_viewer, files, size):
    """Checkpoints crowd near the end of a path ("end 6" was drawn over "3"): every label drawn is clear
    of the others and of the other checkpoints, beside its own and inside the plot; the start and end always
    show, the others show their epoch or are left out. Two paths on one plane, on a phone too."""
    page = paths_viewer.page
    page.set_viewport_size(size)
    paths_viewer.open("?s=path-a,path-b&v=map")
    labels = page.evaluate("() => window.__lossatlas.pathLabels()")
    plot = page.evaluate("() => window.__lossatlas.plotRect()")
    where = {
        (sid, i): page.evaluate("([s, i]) => window.__lossatlas.checkpointScreen(s, i)", [sid, i])
        for sid in ("path-a", "path-b")
        for i in range(len(files[sid].trajectory.labels))
    }
    for sid in ("path-a", "path-b"):
        t, drawn = files[sid].trajectory, {label["i"]: label["text"] for label in labels if label["id"] == sid}
        last = len(t.labels) - 1
        assert drawn[0] == f"start {t.epochs[0]}" and drawn[last] == f"end {t.epochs[last]}", drawn
        assert all(drawn[i] == str(t.epochs[i]) for i in drawn if 0 < i < last), drawn
    for k, a in enumerate(labels):
        for b in labels[k + 1 :]:
            apart = (
                a["right"] <= b["left"] + 0.5
                or b["right"] <= a["left"] + 0.5
                or a["bottom"] <= b["top"] + 0.5
                or b["bottom"] <= a["top"] + 0.5
            )
            assert apart, (a, b)
        assert plot["left"] - 1 <= a["left"] and a["right"] <= plot["right"] + 1, (a, plot)  # not cut at its edge
        assert plot["top"] - 1 <= a["top"] and a["bottom"] <= plot["bottom"] + 1, (a, plot)
        own = where[(a["id"], a["i"])]
        gap = math.hypot(
            max(a["left"] - own["x"], 0, own["x"] - a["right"]), max(a["top"] - own["y"], 0, own["y"] - a["bottom"])
        )
        assert gap <= 16, (a, own)
        if a["i"] not in (0, len(files[a["id"]].trajectory.labels) - 1):  # the ends show even over a crowd
            for key, at in where.items():
                inside = a["left"] + 1 < at["x"] < a["right"] - 1 and a["top"] + 1 < at["y"] < a["bottom"] - 1
                assert key == (a["id"], a["i"]) or not inside, (a, key, at)
    assert paths_viewer.errors == []


def apart(a: dict, b: dict) -> bool:
    return (
        a["right"] <= b["left"] + 0.5
        or b["right"] <= a["left"] + 0.5
        or a["bottom"] <= b["top"] + 0.5
        or b["bottom"] <= a["top"] + 0.5
    )


@pytest.mark.parametrize("cam", [None, "0,-0.01,5,0,0,0", "4.5,0.2,0.4,0,0,0.3", "-2,3,1.5,0,0,0.3"])
def test_checkpoint_labels_in_3d_never_overlap(paths_viewer, files, cam):
    """In 3-D the labels sat above each checkpoint whatever the camera: where two paths start or end close
    together one was written over the other ("start 0" over "start 0"). For the camera as it is, each label shown is
    clear of the others, beside its own checkpoint; the starts and ends always show. Seen from above,
    from low at the side (the paths foreshortened) and from behind."""
    paths_viewer.open("?s=path-a,path-b" + (f"&cam={cam}" if cam else ""))
    labels = paths_viewer.page.evaluate("() => window.__lossatlas.pathLabels3d()")
    shown = [label for label in labels if label["visible"]]
    for sid in ("path-a", "path-b"):
        t = files[sid].trajectory
        last = len(t.labels) - 1
        mine = {label["i"]: label["text"] for label in shown if label["id"] == sid}
        assert mine[0] == f"start {t.epochs[0]}" and mine[last] == f"end {t.epochs[last]}", mine
        assert all(mine[i] == str(t.epochs[i]) for i in mine if 0 < i < last), mine
    for k, a in enumerate(shown):
        assert all(apart(a, b) for b in shown[k + 1 :]), (a, [b for b in shown[k + 1 :] if not apart(a, b)])
        own = paths_viewer.page.evaluate("([s, i]) => window.__lossatlas.checkpointScreen(s, i)", [a["id"], a["i"]])
        height = a["bottom"] - a["top"]
        gap = math.hypot(
            max(a["left"] - own["x"], 0, own["x"] - a["right"]), max(a["top"] - own["y"], 0, own["y"] - a["bottom"])
        )
        assert gap <= 1.5 * height, (a, own)  # beside its checkpoint (a start or end may go a label further)
    assert paths_viewer.errors == []


def luminance(rgb: list[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 each)."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_checkpoint_labels_in_3d_are_readable_over_a_surface_of_their_colour(paths_viewer):
    """A label is in its path's colour, as is the path's own surface: "start 0" in blue over blue was hard to
    read. Each label lies on a dark box: over the path's colour seen through it, the label's colour keeps a
    contrast of at least 4.5:1 (WCAG AA for text)."""
    paths_viewer.open("?s=path-a,path-b")
    paths = paths_viewer.state()["paths"]
    for label in paths_viewer.page.evaluate("() => window.__lossatlas.pathLabels3d()"):
        ink = next(p["color"] for p in paths if p["id"] == label["id"])
        ink = [int(ink[k : k + 2], 16) for k in (1, 3, 5)]
        pic = paths_viewer.page.evaluate(
            "([s, i]) => window.__lossatlas.pathLabelPixels(s, i)", [label["id"], label["i"]]
        )
        w, h = pic["width"], pic["height"]
        for x, y in ((2, h // 2), (w - 3, h // 2), (w // 2, 2), (w // 2, h - 3)):  # the box's edges, clear of letters
            r, g, b, a = pic["rgba"][4 * (y * w + x) : 4 * (y * w + x) + 4]
            behind = [a / 255 * c + (1 - a / 255) * s for c, s in zip((r, g, b), ink, strict=True)]
            light, dark = sorted((luminance(ink), luminance(behind)), reverse=True)
            assert (light + 0.05) / (dark + 0.05) >= 4.5, (label, (x, y), (r, g, b, a), ink)
    assert paths_viewer.errors == []


def test_the_title_says_what_the_axes_are(paths_viewer):
    paths_viewer.open("?s=path-a&v=map")
    assert paths_viewer.state()["axis_names"]["x"].startswith("PC1")
    assert (
        paths_viewer.page.locator("#title .axes-note")
        .inner_text()
        .startswith("x, y: the training path’s principal components 1 and 2, each axis to its own scale")
    )


@pytest.fixture(scope="module")
def run_server(tmp_path_factory, path_gallery: Path, tensors_npz: Path):
    """A gallery that keeps run A's path (runs/path-a/) and final model as a training run, served with a
    worker: the job form offers the run, and its job computes the surface in the path's plane."""
    import shutil

    shelf = tmp_path_factory.mktemp("shelf")
    shutil.copytree(
        path_gallery / "run4", shelf / "runs" / "path-a", ignore=shutil.ignore_patterns("last.pt", "final.pt")
    )
    (shelf / "checkpoints").mkdir()
    shutil.copy(path_gallery / "run4" / "epoch_4.pt", shelf / "checkpoints" / "path-a.pt")
    shutil.copy(path_gallery / "path-a.h5", shelf / "path-a.h5")
    entry = {
        "id": "path-a",
        "title": TITLES["path-a"],
        "description": "",
        "tier": "cpu",
        "model": "tinycnn",
        "dataset": "tensors",
        "training": {"epochs": 4, "batch_size": 4, "save_every": 1},
        "surface": {"samples": 32, "directions": {"kind": "pca"}, "grid_num": 9},
    }
    (shelf / "manifest.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    s = read_surface(shelf / "path-a.h5")
    grid = f"{s.xcoordinates[0]:g}:{s.xcoordinates[-1]:g}:5 x {s.ycoordinates[0]:g}:{s.ycoordinates[-1]:g}:5"
    index = {"entries": [{"id": "path-a", "file": "path-a.h5", "title": TITLES["path-a"], "grid": grid}]}
    (shelf / "index.json").write_text(json.dumps(index))
    with running(server_settings(tmp_path_factory.mktemp("rundata"), shelf, tensors_npz)) as base:
        yield base, grid


def test_a_job_on_a_gallery_run_from_the_form_draws_the_path_in_its_plane(browser, run_server, files, tmp_path):
    """Choose the gallery's training path as the weights: the form asks for a plane (x, y prefilled from the
    gallery's grid of it), the worker computes it, and the path lands where the engine put it in path-a."""
    import httpx

    base, grid = run_server
    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = Viewer(context.new_page(), base)
        viewer.open("?s=path-a&v=map")
        page = viewer.page
        option = viewer.open_job_form(weights="run:path-a")
        assert option.inner_text() == f"{TITLES['path-a']} (5 checkpoints)"
        assert page.locator(".random-directions").is_visible() and page.locator(".pca-note").is_hidden()
        page.select_option("select[name=weights]", "run:path-a")
        assert page.locator(".random-directions").is_hidden() and page.locator(".pca-note").is_visible()
        y_field = page.locator("label", has=page.locator("input[name=y]"))
        assert y_field.locator("small").inner_text() == "required: a plane"
        assert f"{page.input_value('input[name=x]')} x {page.input_value('input[name=y]')}" == grid
        page.fill("input[name=samples]", "32")
        page.click("button[type=submit]")
        done = page.locator("#jobs li[data-state=done]")
        done.wait_for(timeout=120000)
        request = httpx.get(f"{base}/api/jobs/{done.get_attribute('data-id')}").json()
        assert request["request"]["directions"]["run"] == "path-a" and request["request"]["directions"]["kind"] == "pca"
        assert request["request"]["name"] == "tinycnn, path path-a, PCA plane, tiny"
        sid = request["surface_id"]
        done.locator(".job-head .link").click()
        viewer.wait_ready()
        state = viewer.state()
        assert sid in [p["id"] for p in state["paths"]] and state["axis_names"]["x"].startswith("PC1, ")
        row = page.locator(f".surface-details[data-id='{sid}'] tr", has=page.locator("th", has_text="directions"))
        assert (
            row.locator("td").inner_text()
            == "PCA of the training path (5 checkpoints, cos projection), ignore biasbn, weights"
        )
        mesh = httpx.get(f"{base}/api/surfaces/{sid}").json()
        expected = files["path-a"].trajectory  # the engine's own computation on the same run
        assert mesh["trajectory"]["labels"] == expected.labels
        np.testing.assert_allclose(mesh["trajectory"]["x"], expected.x, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(mesh["trajectory"]["y"], expected.y, rtol=1e-6, atol=1e-9)
        page.screenshot(path=str(tmp_path / "run-job.png"))
        assert viewer.errors == []
    finally:
        context.close()


def test_leaving_a_gallery_run_gives_the_axes_back(browser, run_server):
    """A run fills x and y with its grid; choosing other weights again shows normalization and seed and
    puts back what the axes held before, except an axis the user edited while the run was chosen."""
    base, grid = run_server
    grid_x, grid_y = grid.split(" x ")
    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = Viewer(context.new_page(), base)
        viewer.open()
        page = viewer.page
        viewer.open_job_form(weights="run:path-a")

        def axes() -> tuple[str, str]:
            return page.input_value("input[name=x]"), page.input_value("input[name=y]")

        y_hint = page.locator("label", has=page.locator("input[name=y]")).locator("small")
        defaults = axes()
        for weights in ("run:path-a", "untrained"):  # the defaults come back
            page.select_option("select[name=weights]", weights)
        assert axes() == defaults != (grid_x, grid_y)
        assert page.locator(".random-directions").is_visible() and page.locator(".pca-note").is_hidden()
        assert y_hint.inner_text() == "leave empty for a 1-D curve"
        page.fill("input[name=x]", "-2:2:7")  # the user's own axes: a 1-D line
        page.fill("input[name=y]", "")
        page.select_option("select[name=weights]", "run:path-a")
        assert axes() == (grid_x, grid_y) and page.locator(".random-directions").is_hidden()
        page.select_option("select[name=weights]", "upload")
        assert axes() == ("-2:2:7", "")
        page.select_option("select[name=weights]", "run:path-a")
        page.fill("input[name=y]", "-0.5:0.5:5")  # edited while the run is chosen: kept
        page.select_option("select[name=weights]", "untrained")
        assert axes() == ("-2:2:7", "-0.5:0.5:5")
        assert page.locator(".random-directions").is_visible()
        assert viewer.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("size", [VIEWPORT, {"width": 390, "height": 844}])
def test_the_axes_fields_show_a_paths_grid_in_full(browser, run_server, size):
    """x and y stood side by side, each half the panel: a training path's grid (the gallery's are like
    "-1.30157:0.882071:9") was cut off. Each now has a line of its own and shows the whole text."""
    base, grid = run_server
    context = browser.new_context(viewport=size)
    try:
        viewer = Viewer(context.new_page(), base)
        viewer.open()
        page = viewer.page
        if page.locator("#toggle-left").is_visible():  # a phone: the form is in the left drawer
            page.click("#toggle-left")
        viewer.open_job_form(weights="run:path-a")
        page.select_option("select[name=weights]", "run:path-a")
        cut = "(e) => e.scrollWidth > e.clientWidth"
        for name, value in zip("xy", [*grid.split(" x ")[:1], "-1.30157:0.882071:51"], strict=True):
            field = page.locator(f"input[name={name}]")
            if name == "y":
                field.fill(value)
            assert field.input_value() == value and not field.evaluate(cut), f"{name} = {value} does not fit"
        assert page.evaluate("() => document.documentElement.scrollWidth") <= size["width"]
        assert viewer.errors == []
    finally:
        context.close()


def test_3d_axis_names_of_paths_apart_fit_a_phone(paths_viewer):
    """Paths in different planes name their axes "PC1 of each surface’s own path": in 3-D on a phone
    that ran out of the view. The 3-D axes read PC1 and PC2 (the title says whose), every label whole."""
    page = paths_viewer.page
    page.set_viewport_size({"width": 390, "height": 844})
    paths_viewer.open("?s=path-a,path-c")
    state = paths_viewer.state()
    names = {label["role"]: label["text"] for label in state["labels"] if label["role"] in ("x-name", "y-name")}
    assert names == {"x-name": "PC1", "y-name": "PC2"}
    assert "principal components 1 and 2 of each surface’s own path" in page.locator("#title").inner_text()
    canvas = page.locator("#view-3d canvas").bounding_box()
    for label in state["labels"]:
        box = label["box"]
        assert canvas["x"] <= box["left"] and box["right"] <= canvas["x"] + canvas["width"], label
    assert paths_viewer.errors == []


def test_a_difference_of_pca_surfaces_names_its_axes_as_principal_components(paths_viewer):
    """A − B of two PCA surfaces lies on A's plane: its axes were called "directions 1 and 2,
    unnormalized (pca)"; they are principal components, and the planes' difference is warned about."""
    page = paths_viewer.page
    paths_viewer.open("?s=path-a~path-c")
    assert paths_viewer.state()["axis_names"] == {"x": "PC1", "y": "PC2"}
    lines = page.locator("#title").inner_text().splitlines()
    assert (
        "x, y: principal components 1 and 2 of each surface’s own path (A’s for A − B), each axis to its own scale"
        in lines
    )
    assert any(line.startswith("⚠ A and B were computed along different directions (direction files") for line in lines)
    assert paths_viewer.errors == []
