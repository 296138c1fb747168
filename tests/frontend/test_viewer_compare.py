"""Comparing surfaces (issue 15): the tooltip lists every shown surface's value at the cursor's (x, y),
exact at a shared grid point and bilinear (and labelled so) between grid points; a difference layer
A - B on one grid or with B resampled, with A's and B's directions and a warning when they differ; and the
details panel shows how a surface was computed."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pytest
import torch
from frontend_support import GALLERY, VIEWPORT, Viewer, running, server_settings
from PIL import Image

from workers import SurfaceSpec, compute_surface, read_surface, write_surface
from workers.checkpoints import load_model

pytestmark = pytest.mark.slow


def number(text: str) -> float:
    return float(text.split()[0].replace("−", "-"))


def tooltip_rows(viewer) -> dict[str, str]:
    return viewer.page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#tooltip [data-key]')].map("
        "(e) => [e.dataset.key, e.querySelector('b') ? e.querySelector('b').textContent : e.textContent]))"
    )


def bilinear(xs, ys, z, x, y) -> float:
    """z (rows of y) at (x, y), interpolated between the four grid points around it (numpy)."""
    row = [np.interp(x, xs, z[j]) for j in range(len(ys))]
    return float(np.interp(y, ys, row))


def test_tooltip_lists_every_surface_at_the_cursor(viewer, surfaces):
    a, b, c = surfaces["seed-3"], surfaces["pair-a"], surfaces["pair-b"]
    viewer.open("?s=seed-3,pair-a,pair-b&v=map")  # the map hovers seed-3, the first surface covering it
    ix, iy = 1, 2  # x = -0.375, y = -0.25: between pair-a's grid points along x, on one along y
    rows = viewer.hover("seed-3", ix, iy)
    x, y = a.xcoordinates[ix], a.ycoordinates[iy]
    assert math.isclose(number(rows["at:seed-3"]), a.metrics["train_loss"][iy, ix], rel_tol=2e-5)
    for sid, s in (("pair-a", b), ("pair-b", c)):
        expected = bilinear(s.xcoordinates, s.ycoordinates, s.metrics["train_loss"], x, y)
        assert rows[f"at:{sid}"].endswith("(bilinear)")
        assert math.isclose(number(rows[f"at:{sid}"]), expected, rel_tol=2e-5)
    # On a grid point the surfaces share, every value is that point's value: no interpolation.
    rows = viewer.hover("seed-3", 2, 4)  # x = -0.25, y = 0
    for sid, s in (("pair-a", b), ("pair-b", c)):
        jx, jy = int(np.argmin(abs(s.xcoordinates + 0.25))), int(np.argmin(abs(s.ycoordinates)))
        assert "bilinear" not in rows[f"at:{sid}"]
        assert math.isclose(number(rows[f"at:{sid}"]), s.metrics["train_loss"][jy, jx], rel_tol=2e-5)
    hover = viewer.state()["hover"]
    assert [c["id"] for c in hover["compare"]] == ["seed-3", "pair-a", "pair-b"]
    assert viewer.errors == []


def test_overlaid_contours_cover_the_lower_surface_and_say_their_levels(viewer, surfaces):
    """Overlaid on a linear scale, the levels spanned the whole range (seed-2 reaches 2.47), so pair-a
    (2.29 ... 2.33) crossed two of them: below pair-a's top the shared levels follow its range, every
    surface draws the same levels (a value reads alike on both), and the note under the map says which."""
    a, b = (surfaces[sid].metrics["train_loss"] for sid in ("pair-a", "seed-2"))
    viewer.open("?s=pair-a,seed-2&v=map")
    contours = viewer.page.evaluate("() => window.__lossatlas.contours()")
    by_id = {sid: [c["level"] for c in contours if c["id"] == sid] for sid in ("pair-a", "seed-2")}
    assert by_id["pair-a"] == by_id["seed-2"]  # one set of levels for both
    crossing = [c["level"] for c in contours if c["id"] == "pair-a" and c["lines"]]
    assert crossing == [level for level in by_id["pair-a"] if a.min() < level < a.max()]  # lines where it crosses
    assert len(crossing) >= 4, crossing
    low = [level for level in by_id["pair-a"] if level <= a.max()]
    fine = np.diff(low)
    assert np.allclose(fine, fine[0]) and fine[0] <= (a.max() - a.min()) / 4  # a round step within pair-a's range
    assert any(c["lines"] for c in contours if c["id"] == "seed-2" and c["level"] > a.max())  # seed-2 above it
    assert all(b.min() < c["level"] < b.max() for c in contours if c["id"] == "seed-2" and c["lines"])
    note = " ".join(viewer.page.evaluate("() => window.__lossatlas.flatAxes().note"))
    step = re.search(r"every ([0-9.]+) up to", note)
    assert step and float(step.group(1)) == pytest.approx(fine[0], rel=1e-6), note
    assert "TinyCNN with shortcuts" in note and f"up to {a.max():.3g}" in note, note


def test_difference_layer_from_the_panel(viewer, surfaces):
    za, zb = surfaces["pair-a"].metrics["train_loss"], surfaces["pair-b"].metrics["train_loss"]
    viewer.open("?s=pair-a,pair-b")
    page = viewer.page
    page.select_option("#difference select[name=a]", "pair-a")
    page.select_option("#difference select[name=b]", "pair-b")
    viewer.click("#difference button.add-diff")
    assert viewer.state()["ids"] == ["pair-a", "pair-b", "pair-a~pair-b"]
    for sid in ("pair-a", "pair-b"):  # the difference stays when its sources are removed
        viewer.click(f"#layers li[data-id={sid}] button.remove")
    state = viewer.state()
    (layer,) = state["layers"]
    assert layer["id"] == "pair-a~pair-b" and layer["name"] == f"{GALLERY['pair-a'][0]} − {GALLERY['pair-b'][0]}"
    d = za - zb  # the mesh JSON carries values to about 7 digits: differences agree to about 1e-6
    assert state["z"]["min"] == pytest.approx(d.min(), abs=2e-6) and state["z"]["max"] == pytest.approx(
        d.max(), abs=2e-6
    )
    viewer.click("[data-view=map]")
    for ix, iy in ((4, 4), (2, 6)):
        rows = viewer.hover("pair-a~pair-b", ix, iy)
        assert math.isclose(number(rows["value"]), d[iy, ix], rel_tol=1e-6, abs_tol=2e-6)
    text = page.locator("#details").inner_text()
    assert "same grid" in text
    viewer.page.reload()
    viewer.wait_ready()
    assert viewer.state()["ids"] == ["pair-a~pair-b"]  # the link keeps it


def test_a_difference_of_accuracies_is_in_percentage_points(viewer, surfaces):
    """A − B of two accuracies (percent) is a number of percentage points: the tooltip, the z axis, the
    colour bar, the title, the 1-D axis and the details say "pp", never "%"; beside a plain surface
    (in %) the title names both."""
    a, b = surfaces["pair-a"].metrics["train_acc"], surfaces["pair-b"].metrics["train_acc"]
    page = viewer.page
    viewer.open("?s=pair-a~pair-b&m=train_acc&v=map")
    for ix, iy in ((7, 1), (6, 3)):  # where the two differ (tiny data: elsewhere both are 12.5 %)
        assert a[iy, ix] != b[iy, ix]
        value = viewer.hover("pair-a~pair-b", ix, iy)["value"]
        assert value.endswith(" pp") and math.isclose(number(value), a[iy, ix] - b[iy, ix], abs_tol=2e-6), value
    viewer.click("[data-view='3d']")
    assert "train acc (pp)" in [label["text"] for label in viewer.state()["labels"]]  # the 3-D z axis' name
    assert page.get_attribute("#colorbar canvas", "aria-label") == "colour bar: train acc (pp)"
    assert page.locator("#title .muted").first.inner_text() == "train acc (pp)"
    # the axes note reads A's and B's directions (the title once said "null" in its place); they differ
    assert page.locator("#title").inner_text().splitlines() == [
        viewer.layer("pair-a~pair-b")["name"],
        "train acc (pp)",
        "x, y: directions 1 and 2, filter-normalized",
        "⚠ A and B were computed along different directions (seed 0 vs 1)",
    ]
    assert "accuracies in percentage points (pp)" in page.locator("#details").inner_text()
    assert "%" not in page.locator("#title").inner_text() + page.locator("#details").inner_text()
    viewer.click("[data-view='1d']")
    assert page.evaluate("() => window.__lossatlas.flatAxes().y") == "train acc (pp)"

    viewer.open("?s=pair-a,pair-a~pair-b&m=train_acc&v=map")
    rows = viewer.hover("pair-a", 7, 1)
    assert rows["value"].endswith(" %") and rows["at:pair-a"].endswith(" %")
    assert rows["at:pair-a~pair-b"].endswith(" pp")
    assert math.isclose(number(rows["at:pair-a~pair-b"]), a[1, 7] - b[1, 7], abs_tol=2e-6)
    assert page.locator("#title .muted").first.inner_text() == "train acc (%; A − B in pp)"
    viewer.open("?s=pair-a,pair-a~pair-b&m=train_acc&p=1")  # side by side: a colour bar, short to fit it
    assert page.get_attribute("#colorbar canvas", "aria-label") == "colour bar: train acc (%/pp)"
    assert "train acc (%/pp)" in [label["text"] for label in viewer.state()["labels"]]
    assert viewer.errors == []


def test_difference_on_different_grids_is_resampled_and_says_so(viewer, surfaces):
    a, b = surfaces["seed-3"], surfaces["pair-a"]
    viewer.open("?s=seed-3~pair-a&v=map")
    (layer,) = viewer.state()["layers"]
    assert layer["name"].endswith("(B resampled to A’s grid)")
    for ix, iy in ((1, 2), (4, 4), (7, 5)):
        rows = viewer.hover("seed-3~pair-a", ix, iy)
        x, y = a.xcoordinates[ix], a.ycoordinates[iy]
        expected = a.metrics["train_loss"][iy, ix] - bilinear(
            b.xcoordinates, b.ycoordinates, b.metrics["train_loss"], x, y
        )
        assert math.isclose(number(rows["value"]), expected, rel_tol=1e-6, abs_tol=2e-6)
    assert "B resampled to A’s grid" in viewer.page.locator("#details").inner_text()
    viewer.open("?s=pair-a~line")
    assert "is 2-D and" in viewer.page.locator("#error").inner_text()


COMPUTE = {
    "device": "cpu",
    "precision": "bf16",
    "fast": "compiled",
    "torch": "2.5.1",
    "fast_check": {"points": 9, "max_abs_dev": {"train_loss": 0.00125}, "max_rel_dev": {"train_loss": 0.0004}},
}


@pytest.fixture(scope="module")
def compute_server(tmp_path_factory, gallery, tensors_npz):
    """A gallery with a surface whose recipe says how it was computed, and an older one that does not."""
    root = tmp_path_factory.mktemp("computed")
    surface = read_surface(gallery / "pair-a.h5")
    surface.recipe["compute"] = COMPUTE
    write_surface(root / "fast.h5", surface)
    old = read_surface(gallery / "pair-b.h5")
    old.recipe.pop("compute", None)  # as files written before the block existed
    write_surface(root / "old.h5", old)
    entries = [
        {"id": sid, "file": f"{sid}.h5", "title": sid, "tier": "cpu", "source": "tests"} for sid in ("fast", "old")
    ]
    (root / "index.json").write_text(json.dumps({"entries": entries}))
    settings = server_settings(tmp_path_factory.mktemp("computedata"), root, tensors_npz, embedded_worker=False)
    with running(settings) as base:
        yield base


def test_details_show_how_a_surface_was_computed(browser, compute_server):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = Viewer(context.new_page(), compute_server)
        viewer.open("?s=fast,old")
        fast = viewer.page.locator("#details article[data-id=fast]").inner_text()
        for expected in (
            "How it was computed",
            "device\tcpu",
            "precision\tbf16",
            "fast mode\tcompiled",
            "torch\t2.5.1",
            "fast check: points\t9",
            "fast check: max abs dev\ttrain loss 0.00125",
            "fast check: max rel dev\ttrain loss 4e-4",
        ):
            assert expected in fast, f"{expected!r} not in:\n{fast}"
        old = viewer.page.locator("#details article[data-id=old]").inner_text()
        assert "How it was computed" not in old and "centre train loss" in old
        assert viewer.errors == []
    finally:
        context.close()


def test_side_by_side_panes_share_one_camera(viewer, surfaces):
    viewer.open("?s=pair-a,pair-b")
    page = viewer.page
    viewer.click("#panes")
    state = viewer.state()
    assert state["panes"] == 2 and [layer["pane"] for layer in state["layers"]] == [0, 1]
    assert "p=1" in page.url
    box = page.locator("#view-3d canvas").bounding_box()
    middle = box["x"] + box["width"] / 2
    a, b = viewer.screen("pair-a", 4, 1), viewer.screen("pair-b", 4, 1)
    assert box["x"] < a["x"] < middle < b["x"] < box["x"] + box["width"]
    assert b["x"] - a["x"] == pytest.approx(box["width"] / 2, abs=2)  # the same point of view in each pane
    # Each pane hovers its own surface.
    for sid in ("pair-b", "pair-a"):
        ix, iy = next((i, j) for j in (1, 2, 0) for i in (4, 3, 5, 2, 6) if viewer.screen(sid, i, j)["visible"])
        rows = viewer.hover(sid, ix, iy)
        assert rows["surface"] == GALLERY[sid][0]
        assert math.isclose(number(rows["value"]), surfaces[sid].metrics["train_loss"][iy, ix], rel_tol=2e-5)
    # A drag in the left pane moves the view in both.
    page.mouse.move(box["x"] + box["width"] / 4, box["y"] + box["height"] / 2)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(box["x"] + box["width"] / 4 + 30 * k, box["y"] + box["height"] / 2)
    page.mouse.up()
    a2, b2 = viewer.screen("pair-a", 4, 1), viewer.screen("pair-b", 4, 1)
    assert abs(a2["x"] - a["x"]) > 5 and b2["x"] - a2["x"] == pytest.approx(box["width"] / 2, abs=2)
    # Five surfaces do not fit: one overlaid view.
    viewer.open("?s=pair-a,pair-b,seed-2,seed-3,grid51&p=1")
    assert viewer.state()["panes"] == 1
    assert viewer.errors == []


@pytest.fixture(scope="module")
def directions_server(tmp_path_factory, gallery, tensors_npz):
    """pair-a (tinycnn, random filter-normalized directions, seed 0) beside surfaces computed by the engine
    along the same directions on another grid ("twin", and "reused", which reads twin's direction file),
    along the same recipe around other weights ("retrained": a checkpoint of perturbed weights; "unnorm-a"
    and "unnorm-b": unnormalized, ignore none, around the two weights) and along other directions
    ("reseeded": seed 1, layer norm). Older files have no directions_sha256 ("twin-old", "unnorm-b-old");
    "twin-other" is twin with reseeded's: its recipe's vectors made otherwise (another torch's generator)."""
    root = tmp_path_factory.mktemp("directions")
    shutil.copy(gallery / "pair-a.h5", root / "pair-a.h5")
    model = load_model("tinycnn", None)
    generator = torch.Generator().manual_seed(11)
    state = {
        k: v + 0.1 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    torch.save(state, root / "retrained.pt")
    grid = {"x": "-1:1:5", "y": "-1:1:5"}
    unnormalized = {"seed": 0, "norm": "none", "ignore": "none"}
    fields = {
        "twin": {"x": "-0.5:0.5:5", "y": "-0.5:0.5:5", "directions": {"seed": 0}},
        "retrained": {**grid, "directions": {"seed": 0}, "checkpoint": str(root / "retrained.pt")},
        "reseeded": {**grid, "directions": {"seed": 1, "norm": "layer"}},
        "reused": {**grid, "dir_file": lambda: str(root / read_surface(root / "twin.h5").dir_file)},
        "unnorm-a": {**grid, "directions": unnormalized},
        "unnorm-b": {**grid, "directions": unnormalized, "checkpoint": str(root / "retrained.pt")},
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for sid, f in fields.items():
            f = {k: v() if callable(v) else v for k, v in f.items()}
            spec = SurfaceSpec(model="tinycnn", dataset="tensors", data_root=str(tensors_npz), batch_size=64, **f)
            compute_surface(spec, root / f"{sid}.h5")  # with its direction file
    finally:
        torch.set_num_threads(threads)
    for sid, source, digest in (
        ("twin-old", "twin", None),
        ("unnorm-b-old", "unnorm-b", None),
        ("twin-other", "twin", "reseeded"),
    ):
        surface = read_surface(root / f"{source}.h5")
        surface.attrs.pop("directions_sha256")
        if digest:
            surface.attrs["directions_sha256"] = read_surface(root / f"{digest}.h5").attrs["directions_sha256"]
        write_surface(root / f"{sid}.h5", surface)
    ids = ("pair-a", *fields, "twin-old", "unnorm-b-old", "twin-other")
    entries = [{"id": sid, "file": f"{sid}.h5", "title": sid, "tier": "cpu", "source": "tests"} for sid in ids]
    (root / "index.json").write_text(json.dumps({"entries": entries}))
    settings = server_settings(tmp_path_factory.mktemp("directionsdata"), root, tensors_npz, embedded_worker=False)
    with running(settings) as base:
        yield base, root


def test_a_difference_says_whether_a_and_b_share_their_directions(browser, directions_server):
    """A − B subtracts values at equal (x, y): one point of the weight space only when A and B share their
    directions. The details show A's and B's directions and the verdict; when the recipes differ, the title
    and the details warn. The verdict agrees with the engine's fingerprint of the direction vectors."""
    base, root = directions_server
    digest = {
        sid: read_surface(root / f"{sid}.h5").attrs["directions_sha256"]
        for sid in ("pair-a", "twin", "retrained", "reseeded")
    }
    assert digest["twin"] == digest["pair-a"] and digest["retrained"] != digest["pair-a"] != digest["reseeded"]
    filter_seed0 = "random, filter norm, ignore biasbn, weights, seed 0"
    cases = {  # B: (its directions in words, the verdict, the title's warning)
        "twin": (filter_seed0, "A and B share their directions (the same vectors: their sha256 agree)", None),
        "retrained": (
            filter_seed0,
            "the same recipe, made around different weights of tinycnn (each normalized to its own): alike, not the same directions",
            None,
        ),
        "reseeded": (
            "random, layer norm, ignore biasbn, weights, seed 1",
            "differ (see above)",
            "⚠ A and B were computed along different directions (norm filter vs layer; seed 0 vs 1)",
        ),
    }
    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = Viewer(context.new_page(), base)
        page = viewer.page
        for b, (b_words, verdict, warning) in cases.items():
            viewer.open(f"?s=pair-a~{b}")
            rows = dict(
                line.split("\t", 1) for line in page.locator("#details article table").inner_text().splitlines()
            )
            assert rows["directions of A"] == filter_seed0 and rows["directions of B"] == b_words, rows
            assert rows["directions"] == verdict, rows
            note = [] if b == "reseeded" else ["x, y: directions 1 and 2, filter-normalized"]  # other norms: none
            title = page.locator("#title").inner_text().splitlines()
            name = page.locator("#title .layer-title").inner_text()
            assert title == [name, "train loss", *note, *([warning] if warning else [])], title
            warned = page.locator("#details .directions-warning")
            if warning is None:
                assert warned.count() == 0 and page.locator("#title .directions-warning").count() == 0
            else:
                assert page.locator("#title .directions-warning").inner_text() == warning
                assert warned.inner_text() == f"{warning}: A − B subtracts values at equal x, y of two different planes"
        # beside other surfaces the title names the difference it warns about
        viewer.open("?s=pair-a,pair-a~reseeded")
        assert page.locator("#title .directions-warning").inner_text() == (
            "⚠ pair-a − reseeded (B resampled to A’s grid): A and B were computed along different directions"
            " (norm filter vs layer; seed 0 vs 1)"
        )
        assert viewer.errors == []
    finally:
        context.close()


def directions_rows(page) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in page.locator("#details article table").inner_text().splitlines())


def test_the_directions_fingerprint_decides_where_both_files_have_it(browser, directions_server):
    """The summaries' directions_sha256 (of the vectors) decide the verdict where A and B both have one: a
    surface reading twin's direction file shares pair-a's directions (its recipe said "B reads its
    directions from a file": a warning); alike recipes with other vectors differ. Older files without it are
    judged by their recipes: unnormalized directions with ignore none hold the weights' own 1-D entries, so
    around other weights they are not the same (the recipes' verdict said they were)."""
    base, root = directions_server
    digest = {sid: read_surface(root / f"{sid}.h5").attrs.get("directions_sha256") for sid in ("pair-a", "reused")}
    digest |= {sid: read_surface(root / f"{sid}.h5").attrs.get("directions_sha256") for sid in ("unnorm-a", "unnorm-b")}
    assert digest["reused"] == digest["pair-a"] and digest["unnorm-a"] != digest["unnorm-b"]
    assert read_surface(root / "reused.h5").recipe["dir_file_sha256"]  # it read a direction file, pair-a did not
    shared = "A and B share their directions (the same vectors: their sha256 agree)"
    around = "the same recipe, made around different weights of tinycnn: alike, not the same directions"
    other = "⚠ A and B were computed along different directions (alike recipes, other vectors: their sha256 differ)"
    cases = {  # A − B: (the verdict row, the title's warning)
        "pair-a~reused": (shared, None),
        "unnorm-a~unnorm-b": (around, None),
        "unnorm-a~unnorm-b-old": (around, None),
        "twin~twin-other": ("differ (see above)", other),
        "pair-a~twin-old": ("A and B share their directions", None),  # the recipes: the same weights
    }
    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = Viewer(context.new_page(), base)
        page = viewer.page
        for ids, (verdict, warning) in cases.items():
            viewer.open(f"?s={ids}")
            assert directions_rows(page)["directions"] == verdict, ids
            warned = page.locator("#title .directions-warning")
            assert (warned.inner_text() if warned.count() else None) == warning, ids
        assert viewer.errors == []
    finally:
        context.close()


def warn_rows(path) -> list[int]:
    """Rows of a PNG holding the warning colour (style.css --warn, #ffc15e; antialiased text: its core)."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    amber = np.abs(pixels - np.array([0xFF, 0xC1, 0x5E])).sum(axis=2) <= 40
    return [int(y) for y in np.flatnonzero(amber.sum(axis=1) >= 2)]


def test_png_export_keeps_the_directions_warning_wrapped_to_the_view(viewer):
    """The PNG of a difference whose A and B have different directions carries the title's warning, in its
    colour and wrapped onto lines as the narrow view wraps it (one long line ran off the image)."""
    page = viewer.page
    page.set_viewport_size({"width": 390, "height": 844})
    shots = {}
    for query in ("?s=pair-a~pair-b", "?s=pair-a"):
        viewer.open(query)
        with page.expect_download() as info:
            page.click("#export-png")
        shots[query] = warn_rows(info.value.path())
    title = page.locator("#title").bounding_box()
    scale = page.evaluate(
        "() => { const c = document.querySelector('#view-3d canvas'); return c.width / c.clientWidth; }"
    )
    assert shots["?s=pair-a"] == []
    rows = shots["?s=pair-a~pair-b"]
    bands = 1 + sum(b - a > 3 for a, b in zip(rows, rows[1:]))  # runs of rows: lines of text
    assert bands == 2, rows  # "⚠ A and B were computed along different directions (seed 0 vs 1)" in two lines
    assert rows[-1] <= (title["y"] + title["height"]) * scale  # the caption over the view's top, as on the screen
    assert viewer.errors == []


def test_details_count_a_small_models_parameters(viewer):
    """A tiny model's size read "0.00 M params": under 100,000 the count is given in full."""
    params = sum(p.numel() for p in load_model("tinycnn", None).parameters())
    assert params < 100_000
    viewer.open("?s=pair-a")
    rows = viewer.page.locator("#details article[data-id=pair-a] table").first.inner_text().splitlines()
    assert f"model\ttinycnn ({params:,} params)" in rows, rows
    assert viewer.errors == []


def test_a_difference_on_a_larger_grid_says_how_much_b_covers(viewer, surfaces):
    """A − B on A's grid where B's grid is smaller has gaps: the status line read "13 of 81 points", as if
    the surfaces were still being computed. It now says how many of A's points B covers."""
    a, b = surfaces["pair-a"], surfaces["seed-3"]
    inside = (np.abs(a.xcoordinates[None, :]) <= b.xcoordinates.max() + 1e-9) & (
        np.abs(a.ycoordinates[:, None]) <= b.ycoordinates.max() + 1e-9
    )
    viewer.open("?s=pair-a~seed-3")
    name = viewer.layer("pair-a~seed-3")["name"]
    assert viewer.page.locator("#status").inner_text() == f"{name}: B covers {inside.sum()} of A’s {inside.size} points"
    viewer.open("?s=partial~pair-a")  # A still being computed: its progress, as for the surface itself
    assert "B covers" not in viewer.page.locator("#status").inner_text()
    assert viewer.errors == []


def color_bands(path, rgb: tuple[int, int, int], below: float) -> int:
    """Runs of pixel rows above ``below`` (device px) holding ``rgb``: lines of text in that colour."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)[: int(below)]
    rows = np.flatnonzero((np.abs(pixels - np.array(rgb)).sum(axis=2) <= 30).sum(axis=1) >= 2)
    return 0 if not len(rows) else 1 + sum(b - a > 3 for a, b in zip(rows, rows[1:]))


def test_png_export_wraps_a_long_surface_name_as_the_title_does(viewer):
    """On a phone a difference's long name wraps in the title; the PNG cut it at the image's edge. It
    wraps there too: the names take as many lines of text as on the screen."""
    page = viewer.page
    page.set_viewport_size({"width": 390, "height": 844})
    viewer.open("?s=seed-3~pair-b,pair-a")
    names = page.locator("#title .layer-title")
    screen_lines = [round(names.nth(i).bounding_box()["height"] / 17) for i in range(names.count())]
    assert screen_lines == [2, 1]
    with page.expect_download() as info:
        page.click("#export-png")
    title = page.locator("#title").bounding_box()
    scale = page.evaluate(
        "() => { const c = document.querySelector('#view-3d canvas'); return c.width / c.clientWidth; }"
    )
    assert color_bands(info.value.path(), (0xE5, 0xE9, 0xF0), (title["y"] + title["height"]) * scale) == 3
    assert viewer.errors == []


def test_png_export_wraps_pane_names_as_the_panes_do(viewer, tmp_path):
    """Side by side, a pane's name wraps on the screen; the PNG cut it at the pane's width. It wraps there
    too: the first pane's name takes as many lines of text in the image as on the screen."""
    page = viewer.page
    page.set_viewport_size({"width": 390, "height": 844})
    viewer.open("?s=seed-3~pair-b,pair-a&p=1")
    name = page.locator(".pane-cells .layer-title").first.bounding_box()
    cell = page.locator(".pane-cells > div").first.bounding_box()
    screen_lines = round(name["height"] / 17)
    assert screen_lines >= 2, name
    with page.expect_download() as info:
        page.click("#export-png")
    canvas = page.evaluate(
        "() => { const c = document.querySelector('#view-3d canvas'); return [c.width, c.height, c.width / c.clientWidth]; }"
    )
    image = Image.open(info.value.path()).convert("RGB")
    head, scale = image.height - canvas[1], canvas[2]
    crop = image.crop((0, head, int(cell["width"] * scale), head + int((name["height"] + 10) * scale)))
    crop.save(tmp_path / "pane.png")
    assert color_bands(tmp_path / "pane.png", (0xE5, 0xE9, 0xF0), crop.height) == screen_lines
    assert viewer.errors == []
