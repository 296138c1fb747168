"""The viewer in a real browser against the real server: what is drawn, what the tooltip says and how
the controls change the geometry, each checked against the surface files read by the engine."""

from __future__ import annotations

import io
import math
import re
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import numpy as np
import pytest
from frontend_support import BACKGROUND, GALLERY, PARTIAL_POINTS, Viewer
from PIL import Image

from workers.grid import level_indices

pytestmark = pytest.mark.slow


def finite_values(surface, metric: str) -> np.ndarray:
    values = surface.metrics[metric]
    return values[surface.done & np.isfinite(values)]


def number(text: str) -> float:
    """The number a tooltip cell starts with (it may add a note such as '(above vmax)')."""
    return float(text.split()[0].replace("−", "-"))


def assert_close(text: str, expected: float, rel: float = 2e-5) -> None:
    assert math.isclose(number(text), expected, rel_tol=rel, abs_tol=1e-9), f"{text!r} != {expected!r}"


def visible_vertex(viewer, sid: str, n: int, rows=(1, 2, 0)) -> tuple[int, int]:
    """(ix, iy) of a vertex near the y-min side (nearest the default camera) that the pointer can reach."""
    for iy in rows:
        for ix in (n // 2, n // 3, 2 * n // 3, 1, n - 2):
            at = viewer.screen(sid, ix, iy)
            if at and at["visible"]:
                return ix, iy
    pytest.fail(f"no vertex of {sid} near its front edge is visible")


def test_page_loads_without_console_errors_and_draws_the_surface(viewer, surfaces):
    viewer.open("?s=pair-a")
    s = surfaces["pair-a"]
    state = viewer.state()
    assert state["ids"] == ["pair-a"] and state["metric"] == "train_loss" and state["errors"] == []
    (layer,) = state["layers"]
    ny, nx = s.metrics["train_loss"].shape
    assert layer["kind"] == "Mesh" and layer["vertices"] == nx * ny
    assert layer["drawn_vertices"] == finite_values(s, "train_loss").size == nx * ny
    assert layer["primitives"] == 2 * (nx - 1) * (ny - 1)
    assert state["z"]["min"] == pytest.approx(finite_values(s, "train_loss").min(), rel=1e-6)
    assert state["z"]["max"] == pytest.approx(finite_values(s, "train_loss").max(), rel=1e-6)
    # Pixels: the surface covers a good part of the canvas in colours far from the background.
    png = viewer.page.locator("#view-3d canvas").screenshot()
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    far = np.abs(pixels - np.array(BACKGROUND)).sum(axis=2) > 60
    assert far.mean() > 0.05, f"only {far.mean():.1%} of the canvas differs from the background"
    assert viewer.page.locator("#colorbar").is_visible()
    # Rendered on demand: an idle page draws no frames.
    frames = state["memory"]["frames"]
    viewer.page.wait_for_timeout(600)
    assert viewer.state()["memory"]["frames"] == frames
    assert viewer.errors == []


def test_canvas_follows_the_window(viewer):
    viewer.open("?s=pair-a")  # (its view ends left of the colour bar: test_viewer_layout.py)
    size = lambda: viewer.page.evaluate(  # noqa: E731
        "() => { const c = document.querySelector('#view-3d canvas'), v = document.getElementById('view-3d');"
        " return [c.clientWidth, c.clientHeight, v.clientWidth, v.clientHeight]; }"
    )
    w, h, vw, vh = size()
    assert (w, h) == (vw, vh)
    viewer.page.set_viewport_size({"width": 1100, "height": 700})
    viewer.page.wait_for_function("(w) => document.querySelector('#view-3d canvas').clientWidth !== w", arg=w)
    w2, h2, vw2, vh2 = size()
    assert (w2, h2) == (vw2, vh2) and w2 < w and h2 < h


CANVAS_AND_VIEW = (
    "() => { const c = document.querySelector('#view-3d canvas'), v = document.getElementById('view-3d');"
    " return [c.clientWidth, c.clientHeight, v.clientWidth, v.clientHeight]; }"
)


def test_the_canvas_fits_a_changed_view_at_once(viewer):
    """Removing one of two overlaid surfaces brings the colour bar, which narrows the 3-D view: the canvas
    followed on the next frame, after the page said it was ready, so what was read at once (a vertex's place
    on the screen) was the old view's. It fits when the change is made; panes too."""
    page = viewer.page
    viewer.open("?s=pair-a,pair-b")  # overlaid: no colour bar
    _, _, vw, vh = page.evaluate(CANVAS_AND_VIEW)
    w, h, vw2, vh2 = page.evaluate(
        "async () => { document.querySelector('#layers li[data-id=pair-b] button.remove').click();"
        " for (let k = 0; k < 100 && !window.__lossatlas.ready; k++) await null;"  # no fetch: microtasks, no frame
        f" return ({CANVAS_AND_VIEW})(); }}"
    )
    assert viewer.state()["ids"] == ["pair-a"] and page.locator("#colorbar").is_visible()
    assert vw2 < vw and vh2 == vh and (w, h) == (vw2, vh2)
    viewer.open("?s=pair-a,pair-b")
    w, h, vw2, vh2 = page.evaluate(
        f"() => {{ document.getElementById('panes').click(); return ({CANVAS_AND_VIEW})(); }}"
    )
    assert vw2 < vw and vh2 < vh and (w, h) == (vw2, vh2)  # panes: below the title, beside a colour bar
    assert viewer.errors == []


def test_a_change_draws_one_frame(viewer):
    """A rebuild drew its frame, then again on the next animation frame it had asked for on the way."""
    viewer.open("?s=pair-a")
    drawn = viewer.page.evaluate(
        "() => new Promise((done) => { const before = window.__lossatlas.state().memory.frames;"
        " document.getElementById('logz').click();"
        " const count = () => done(window.__lossatlas.state().memory.frames - before);"
        " requestAnimationFrame(() => requestAnimationFrame(() => requestAnimationFrame(count))); })"
    )
    assert drawn == 1
    assert viewer.state()["z"]["scale"] == "log"


def test_hover_shows_x_y_and_value_from_the_file(viewer, surfaces):
    viewer.open("?s=pair-a")
    s = surfaces["pair-a"]
    nx = s.xcoordinates.size
    for ix, iy in (visible_vertex(viewer, "pair-a", nx), visible_vertex(viewer, "pair-a", nx, rows=(0,))):
        rows = viewer.hover("pair-a", ix, iy)
        assert_close(rows["x"], s.xcoordinates[ix])
        assert_close(rows["y"], s.ycoordinates[iy])
        assert_close(rows["value"], s.metrics["train_loss"][iy, ix])
        assert_close(rows["test_loss"], s.metrics["test_loss"][iy, ix])
        assert rows["surface"] == GALLERY["pair-a"][0]
    # The contour map maps pixels to grid points too: the centre, hidden in 3-D, is reachable there.
    viewer.click("[data-view=map]")
    rows = viewer.hover("pair-a", nx // 2, nx // 2)
    assert_close(rows["value"], s.metrics["train_loss"][nx // 2, nx // 2])
    assert viewer.errors == []


def test_wireframe_toggle_changes_the_material_and_the_url_keeps_it(viewer):
    viewer.open("?s=pair-a")
    assert viewer.layer("pair-a")["wireframe"] is False
    viewer.click("#wireframe")
    assert viewer.layer("pair-a")["wireframe"] is True
    assert parse_qs(urlparse(viewer.page.url).query)["w"] == ["1"]
    viewer.click("#wireframe")
    assert viewer.layer("pair-a")["wireframe"] is False
    # Replaced geometries, materials and label textures are disposed: GPU memory does not grow.
    memory = viewer.state()["memory"]
    for _ in range(3):
        viewer.click("#wireframe")
        viewer.click("#logz")
    after = viewer.state()["memory"]
    assert (after["geometries"], after["textures"]) == (memory["geometries"], memory["textures"])


def test_overlay_preset_draws_both_surfaces_on_one_scale(viewer, surfaces):
    viewer.open("?s=seed-2")
    viewer.click("[data-preset=pair-a]")  # "TinyCNN with shortcuts vs TinyCNN without shortcuts"
    state = viewer.state()
    assert state["ids"] == ["pair-a", "pair-b"]
    assert [layer["id"] for layer in state["layers"]] == ["pair-a", "pair-b"]
    assert all(layer["drawn_vertices"] == 81 and layer["color_mode"] == "solid" for layer in state["layers"])
    both = np.concatenate([finite_values(surfaces[k], "train_loss") for k in ("pair-a", "pair-b")])
    assert state["z"]["min"] == pytest.approx(both.min(), rel=1e-6)
    assert state["z"]["max"] == pytest.approx(both.max(), rel=1e-6)
    # One scale: a vertex's height is its value's place in the joint range, whichever surface it is on.
    for sid in ("pair-a", "pair-b"):
        v = surfaces[sid].metrics["train_loss"][4, 4]
        assert viewer.vertex(sid, 4, 4)["height"] == pytest.approx(
            (v - both.min()) / (both.max() - both.min()), abs=1e-4
        )
    # The tooltip names the surface under the cursor and reads that surface's data.
    hovered = 0
    for sid in ("pair-a", "pair-b"):
        reachable = [(ix, iy) for iy in (1, 2) for ix in range(1, 8) if viewer.screen(sid, ix, iy)["visible"]]
        if reachable:
            ix, iy = reachable[0]
            rows = viewer.hover(sid, ix, iy)
            assert rows["surface"] == GALLERY[sid][0]
            assert_close(rows["value"], surfaces[sid].metrics["train_loss"][iy, ix])
            hovered += 1
    assert hovered >= 1
    # Each layer has its own colour and opacity.
    colors = viewer.page.eval_on_selector_all("#layers input[type=color]", "(els) => els.map((e) => e.value)")
    assert len(set(colors)) == 2
    viewer.page.locator("#layers li[data-id=pair-b] input[type=range]").fill("0.4")
    viewer.wait_ready()
    assert viewer.layer("pair-b")["opacity"] == pytest.approx(0.4)
    assert viewer.errors == []


def test_log_scale_and_clipping_change_the_geometry(viewer, surfaces):
    viewer.open("?s=pair-a")
    z = surfaces["pair-a"].metrics["train_loss"]
    lo, hi = z.min(), z.max()
    probe = [(0, 0), (4, 4), (8, 3), (2, 7)]
    linear = {p: viewer.vertex("pair-a", *p)["height"] for p in probe}
    for (ix, iy), height in linear.items():
        assert height == pytest.approx((z[iy, ix] - lo) / (hi - lo), abs=1e-4)

    viewer.click("#logz")
    state = viewer.state()
    assert state["z"]["scale"] == "log"
    for ix, iy in probe:
        expected = (np.log10(z[iy, ix]) - np.log10(lo)) / (np.log10(hi) - np.log10(lo))
        assert viewer.vertex("pair-a", ix, iy)["height"] == pytest.approx(expected, abs=1e-4)
    assert any(abs(viewer.vertex("pair-a", *p)["height"] - linear[p]) > 1e-4 for p in probe)
    viewer.click("#logz")

    vmax = float(np.median(z))
    viewer.page.fill("#vmax", repr(vmax))
    viewer.page.press("#vmax", "Enter")
    viewer.wait_ready()
    state = viewer.state()
    assert state["z"]["vmax"] == pytest.approx(vmax) and state["z"]["max"] == pytest.approx(vmax, rel=1e-6)
    for iy in range(z.shape[0]):
        for ix in range(z.shape[1]):
            expected = (min(z[iy, ix], vmax) - lo) / (vmax - lo)
            assert viewer.vertex("pair-a", ix, iy)["height"] == pytest.approx(expected, abs=2e-4)
    clipped = np.argwhere(z > vmax)[0]
    rows = (
        viewer.hover("pair-a", int(clipped[1]), int(clipped[0]))
        if viewer.screen("pair-a", int(clipped[1]), int(clipped[0]))["visible"]
        else None
    )
    if rows:  # the real value is shown, not the clipped height
        assert_close(rows["value"], z[clipped[0], clipped[1]])
        assert "above vmax" in rows["value"]
    assert parse_qs(urlparse(viewer.page.url).query)["vmax"] == [repr(vmax)]
    # A vmax below every value would flatten the surface: refused with a message, clipping off.
    viewer.page.fill("#vmax", repr(float(lo) - 1))
    viewer.page.press("#vmax", "Enter")
    viewer.wait_ready()
    assert viewer.state()["z"]["vmax"] is None and "not above the lowest" in viewer.page.locator("#error").inner_text()


def test_non_finite_points_are_gaps(viewer, surfaces):
    s = surfaces["diverged"]
    z = s.metrics["train_loss"]
    finite = np.isfinite(z)
    assert 0 < finite.sum() < finite.size, "the diverged surface should mix finite and non-finite losses"
    viewer.open("?s=diverged")
    layer = viewer.layer("diverged")
    assert layer["drawn_vertices"] == finite.sum()
    corners = finite[:-1, :-1].astype(int) + finite[1:, :-1] + finite[:-1, 1:] + finite[1:, 1:]
    assert layer["primitives"] == 2 * (corners == 4).sum() + (corners == 3).sum()
    for iy, ix in np.argwhere(~finite):
        assert viewer.vertex("diverged", int(ix), int(iy))["drawn"] is False
    assert viewer.state()["z"]["max"] == pytest.approx(z[finite].max(), rel=1e-6)
    assert viewer.errors == []


def test_1d_surface_and_slice_through_the_cursor(viewer, surfaces):
    line = surfaces["line"]
    viewer.open("?s=line")
    state = viewer.state()
    assert state["view"] == "1d" and state["layers"][0]["kind"] == "LineSegments"
    assert viewer.page.locator("#title .axes-note").inner_text() == "x: direction 1, filter-normalized"  # no y
    rows = viewer.hover("line", 5, 0)
    assert_close(rows["x"], line.xcoordinates[5])
    assert_close(rows["value"], line.metrics["train_loss"][5])
    assert "y" not in rows

    a = surfaces["pair-a"]
    viewer.open("?s=pair-a")
    ix, iy = visible_vertex(viewer, "pair-a", 9)
    viewer.hover("pair-a", ix, iy)  # the cursor now sits on row iy
    viewer.click("[data-view='1d']")
    assert viewer.state()["view"] == "1d"
    for j in (1, 6):  # the slice is row iy of the surface, read back through the 1-D plot's hover
        rows = viewer.hover("pair-a", j, iy)
        assert_close(rows["x"], a.xcoordinates[j])
        assert_close(rows["y"], a.ycoordinates[iy])
        assert_close(rows["value"], a.metrics["train_loss"][iy, j])
    assert viewer.errors == []


def test_metric_switch_and_metadata_panel(viewer, surfaces, gallery):
    s = surfaces["pair-a"]
    viewer.open("?s=pair-a")
    options = viewer.page.eval_on_selector_all("#metric option", "(els) => els.map((e) => e.value)")
    assert sorted(options) == sorted(s.metrics)
    viewer.page.select_option("#metric", "test_acc")
    viewer.wait_ready()
    state = viewer.state()
    assert state["metric"] == "test_acc"
    assert state["z"]["max"] == pytest.approx(finite_values(s, "test_acc").max(), rel=1e-6)
    assert parse_qs(urlparse(viewer.page.url).query)["m"] == ["test_acc"]

    text = viewer.page.locator("#details article[data-id=pair-a]").inner_text()
    spec = s.recipe["spec"]
    stats = s.attrs["landscape_stats"]
    for expected in (
        GALLERY["pair-a"][0],
        "tinycnn",
        "tensors",
        "both",
        "all",
        "filter norm",
        "ignore biasbn",
        "seed 0",
        "-1 … 1 (9)",
        f"{100 * stats['nonconvex_share']:.1f} %",
        "12.5 %",
        "shortcuts\tyes",
        "epochs\t3",
    ):
        assert expected in text, f"{expected!r} not in the details panel:\n{text}"
    centre = s.metrics["train_loss"][4, 4]
    line = next(row for row in text.splitlines() if row.startswith("centre train loss\t"))
    assert_close(line.split("\t")[1], centre, rel=1e-4)
    assert spec["split"] == "both"


def test_accuracies_read_as_percent(viewer, surfaces):
    """Surface files store accuracy in percent (100 * correct / samples): the tooltip, its comparison
    rows, the details panel and the axis name all say so, where the tooltip once showed a bare 88 beside
    the panel's "84.15 %"; losses get no sign."""
    a, b = surfaces["pair-a"], surfaces["pair-b"]
    correct = a.metrics["train_acc"] * 32 / 100  # percent of the 32 training samples (conftest's tensors_npz)
    np.testing.assert_allclose(correct, np.round(correct), atol=1e-9)
    viewer.open("?s=pair-a,pair-b&m=train_acc&p=1")
    page = viewer.page
    ix, iy = visible_vertex(viewer, "pair-a", 9)
    rows = viewer.hover("pair-a", ix, iy)
    for key, metric in (("value", "train_acc"), ("test_acc", "test_acc")):
        assert rows[key].endswith(" %"), rows
        assert_close(rows[key], a.metrics[metric][iy, ix])
    assert "%" not in rows["train_loss"] and "%" not in rows["test_loss"]
    assert rows["at:pair-b"].endswith(" %") and number(rows["at:pair-b"]) == pytest.approx(
        b.metrics["train_acc"][iy, ix], rel=2e-5
    )
    text = page.locator("#details article[data-id=pair-a]").inner_text()
    line = dict(row.split("\t", 1) for row in text.splitlines() if "\t" in row)
    assert line["centre train acc"].endswith(" %") and "%" not in line["centre train loss"]
    assert_close(line["centre train acc"], a.metrics["train_acc"][4, 4], rel=1e-4)
    assert line["test accuracy"] == "12.5 % (whole test split)"  # the gallery's figure, not the centre's
    assert page.locator("#title .muted").first.inner_text().startswith("train acc (%)")
    assert viewer.errors == []


def tooltip_labels(viewer) -> dict[str, str]:
    """The tooltip's row labels (the words left of each value) by data-key."""
    return viewer.page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#tooltip [data-key]')].map("
        "(e) => [e.dataset.key, e.querySelector('span') ? e.querySelector('span').textContent : e.textContent]))"
    )


def test_the_tooltip_names_metrics_in_words(viewer):
    """The tooltip labelled its values with metric ids (train_acc) where the metric menu, the title and
    the axes say "train acc (%)": it uses the menu's words, the unit staying on the value ("59 %")."""
    viewer.open("?s=pair-a,pair-b&m=train_acc&p=1")
    menu = viewer.page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#metric option')].map((o) => [o.value, o.textContent]))"
    )
    assert menu == {
        "train_loss": "train loss",
        "train_acc": "train acc (%)",
        "test_loss": "test loss",
        "test_acc": "test acc (%)",
    }
    ix, iy = visible_vertex(viewer, "pair-a", 9)
    values = viewer.hover("pair-a", ix, iy)
    labels = tooltip_labels(viewer)
    assert labels["value"] == "train acc" and values["value"].endswith(" %")
    assert {m: labels[m] for m in ("train_loss", "test_loss", "test_acc")} == {
        "train_loss": "train loss",
        "test_loss": "test loss",
        "test_acc": "test acc",
    }
    assert menu["test_acc"].startswith(labels["test_acc"] + " ")
    assert labels["compare"] == "train acc of every surface here"
    assert viewer.errors == []


def test_a_surface_without_the_metric_shown_is_named_in_words(viewer, surfaces):
    """pair-b was computed on the train split: with test accuracy shown it is not drawn, and the status
    line says so in the words of the metric menu."""
    assert "test_acc" in surfaces["pair-a"].metrics and "test_acc" not in surfaces["pair-b"].metrics
    viewer.open("?s=pair-a,pair-b&m=test_acc")
    assert [layer["id"] for layer in viewer.state()["layers"]] == ["pair-a"]
    status = viewer.page.locator("#status").inner_text()
    assert status == "TinyCNN without shortcuts: no test acc in the file, not drawn", status
    assert viewer.errors == []


def test_url_restores_the_view(viewer):
    viewer.open("?s=pair-a,pair-b&m=train_acc&w=1&log=1&v=map&cam=1,-4,3,0.1,0,0.3")
    state = viewer.state()
    assert state["ids"] == ["pair-a", "pair-b"] and state["metric"] == "train_acc"
    assert state["view"] == "map" and state["wireframe"] is True and state["z"]["scale"] == "log"
    viewer.click("[data-view='3d']")
    query = parse_qs(urlparse(viewer.page.url).query)
    assert [float(v) for v in query["cam"][0].split(",")] == pytest.approx([1, -4, 3, 0.1, 0, 0.3], abs=1e-3)
    viewer.click("#reset-view")
    viewer.page.wait_for_function("() => !location.search.includes('cam=1,-4')")


def test_png_export(viewer):
    viewer.open("?s=pair-a")
    with viewer.page.expect_download() as info:
        viewer.page.click("#export-png")
    download = info.value
    assert download.suggested_filename.endswith(".png")
    image = Image.open(download.path()).convert("RGB")
    canvas = viewer.page.evaluate(
        "() => [document.querySelector('#view-3d canvas').width, document.querySelector('#view-3d canvas').height]"
    )
    assert image.size[1] == canvas[1] and image.size[0] > canvas[0]  # the colour bar is added on the right
    pixels = np.asarray(image).astype(int)
    assert (np.abs(pixels - np.array(BACKGROUND)).sum(axis=2) > 60).mean() > 0.05
    assert viewer.errors == []


def near(pixels: np.ndarray, color: str, tolerance: int = 12) -> np.ndarray:
    """Which pixels of an RGB array are within ``tolerance`` (summed over channels) of a #rrggbb colour."""
    rgb = np.array([int(color[k : k + 2], 16) for k in (1, 3, 5)])
    return np.abs(pixels - rgb).sum(axis=2) <= tolerance


def test_png_export_of_panes_frames_and_names_each_pane_at_the_views_resolution(browser, server):
    """As the screen shows it: each pane framed and named (colour swatch) in its own top-left corner,
    at the 3-D canvas' resolution (the renderer caps it at 2 device pixels per CSS pixel; this screen
    has 3), the colour bar scaled to it."""
    context = browser.new_context(viewport={"width": 1000, "height": 700}, device_scale_factor=3, accept_downloads=True)
    try:
        viewer = Viewer(context.new_page(), server["base"])
        viewer.open("?s=pair-a,pair-b&p=1")
        colors = [viewer.layer(sid)["color"] for sid in ("pair-a", "pair-b")]
        panes = viewer.page.evaluate("() => window.__lossatlas.paneRects()")
        canvas = viewer.page.evaluate(
            "() => { const c = document.querySelector('#view-3d canvas'), r = c.getBoundingClientRect();"
            " return {width: c.width, height: c.height, left: r.left, top: r.top, css: r.width,"
            " bar: document.querySelector('#colorbar canvas').clientWidth}; }"
        )
        s = canvas["width"] / canvas["css"]
        assert s == 2 and len(panes) == 2
        with viewer.page.expect_download() as info:
            viewer.page.click("#export-png")
        pixels = np.asarray(Image.open(info.value.path()).convert("RGB")).astype(int)
        head = pixels.shape[0] - canvas["height"]
        assert pixels.shape[1] == canvas["width"] + round(canvas["bar"] * s)
        assert 0 < head < 60 * s  # the caption's strip above the panes
        for rect, color, other in zip(panes, colors, colors[::-1], strict=True):
            x0, y0 = round((rect["left"] - canvas["left"]) * s), head + round((rect["top"] - canvas["top"]) * s)
            corner = pixels[y0 : y0 + round(30 * s), x0 : x0 + round(40 * s)]
            assert near(corner, color).sum() >= 0.8 * (10 * s) ** 2, f"no {color} swatch in pane {rect['i']}'s corner"
            assert not near(corner, other).any(), f"pane {rect['i']}'s corner shows the other pane's swatch"
        edge = round(panes[1]["left"] - canvas["left"]) * round(s)  # pane 0's right frame and pane 1's left one
        for x in (edge - 1, edge):
            assert near(pixels[head:, x : x + 1], "#262e3d").mean() > 0.9, f"no frame at x = {x}"
        assert viewer.errors == []
    finally:
        context.close()


def test_errors_show_a_message_not_a_blank_page(viewer):
    viewer.open("?s=no-such-surface")
    banner = viewer.page.locator("#error")
    assert banner.is_visible()
    assert "no-such-surface" in banner.inner_text() and "404" in banner.inner_text()
    listed = viewer.page.eval_on_selector_all("#catalog li", "(els) => els.map((e) => e.dataset.id)")
    assert set(GALLERY) <= set(listed)  # the rest of the page works
    viewer.page.click("#catalog li[data-id=pair-a] button.name")
    viewer.wait_ready()
    assert viewer.state()["ids"] == ["pair-a"]


def test_the_error_banner_lies_under_the_title_it_covered(viewer):
    viewer.open("?s=pair-a,pair-b")
    viewer.page.fill("#vmax", "-1e9")  # refused: below every value
    viewer.page.press("#vmax", "Enter")
    viewer.wait_ready()
    banner = viewer.page.locator("#error")

    def lines() -> list[float]:  # the bottom of each line of the title
        return viewer.page.eval_on_selector_all(
            "#title > div", "(els) => els.map((e) => e.getBoundingClientRect().bottom)"
        )

    assert banner.is_visible() and len(lines()) >= 3  # two names, the metric, the axes
    assert banner.bounding_box()["y"] >= max(lines())
    # The title grows (a narrower view wraps it): the banner moves down with it.
    viewer.page.set_viewport_size({"width": 760, "height": 860})
    viewer.wait_ready()
    assert banner.is_visible() and banner.bounding_box()["y"] >= max(lines())


def test_a_viewer_that_cannot_start_says_so(viewer):
    viewer.page.route("**/three.module.js", lambda route: route.abort())
    viewer.page.goto(f"{viewer.base}/?s=pair-a")
    banner = viewer.page.locator("#error")
    banner.wait_for(state="visible")
    assert "could not start" in banner.inner_text()


def test_partial_surface_shows_a_coarse_preview_interpolated_from_its_complete_level(viewer, surfaces):
    s = surfaces["partial"]
    z, done = s.metrics["train_loss"], s.done
    assert done.sum() == PARTIAL_POINTS
    sub = level_indices(9, 1)  # the 3 x 3 subgrid, complete
    assert done[np.ix_(sub, sub)].all() and not done[np.ix_(level_indices(9, 2), level_indices(9, 2))].all()
    viewer.open("?s=partial")
    layer = viewer.layer("partial")
    assert layer["points_done"] == PARTIAL_POINTS and layer["coarse_level"] == 1 and layer["drawn_vertices"] == 81
    lo, hi = z[done].min(), z[done].max()
    for iy in range(9):
        for ix in range(9):
            if done[iy, ix]:
                expected = z[iy, ix]
            else:  # bilinear between the subgrid points around (ix, iy), computed here with numpy
                row = [np.interp(ix, sub, z[j, sub]) for j in sub]
                expected = np.interp(iy, sub, row)
            assert viewer.vertex("partial", ix, iy)["height"] == pytest.approx((expected - lo) / (hi - lo), abs=2e-4), (
                ix,
                iy,
            )
    pending = next(
        (ix, iy)
        for iy in (1, 2, 3)
        for ix in range(1, 8)
        if not done[iy, ix] and viewer.screen("partial", ix, iy)["visible"]
    )
    rows = viewer.hover("partial", *pending)
    assert rows["value"].startswith("pending")
    assert "of 81 points (coarse preview)" in viewer.page.locator("#status").inner_text()


def test_contour_lines_lie_on_their_level_and_are_labelled(viewer, surfaces):
    z = surfaces["pair-a"].metrics["train_loss"]
    viewer.open("?s=pair-a&v=map")
    contours = viewer.page.evaluate("() => window.__lossatlas.contours()")
    levels = [c["level"] for c in contours]
    assert len(levels) >= 4 and all(z.min() < level < z.max() for level in levels)
    steps = np.diff(levels)
    assert np.allclose(steps, steps[0])  # one round step between levels
    assert sum(c["labels"] for c in contours) >= 3
    checked = 0
    for c in contours:
        assert c["lines"], f"no line at level {c['level']}"
        for line in c["lines"]:
            for fx, fy in line:  # every vertex sits on a grid edge where the edge's values cross the level
                ix, iy = int(np.floor(fx + 1e-9)), int(np.floor(fy + 1e-9))
                if abs(fx - round(fx)) < 1e-9:
                    a, b, f = z[iy, round(fx)], z[min(iy + 1, 8), round(fx)], fy - iy
                else:
                    a, b, f = z[round(fy), ix], z[round(fy), min(ix + 1, 8)], fx - ix
                assert a + f * (b - a) == pytest.approx(c["level"], abs=1e-5)
                checked += 1
    assert checked > 20


def test_catalog_follows_every_page_of_the_surface_list(viewer):
    """GET /api/surfaces pages (1000 a page by default): the viewer reads every page. Each of its list
    requests goes to the real server with a page of 3 (the gallery holds 8)."""
    listed = httpx.get(f"{viewer.base}/api/surfaces").json()
    assert listed["next_offset"] is None and len(listed["surfaces"]) > 6
    asked = []

    def small_pages(route):
        url = urlparse(route.request.url)
        query = {**parse_qs(url.query), "limit": ["3"]}
        asked.append(query.get("offset", ["0"])[0])
        route.continue_(url=url._replace(query=urlencode(query, doseq=True)).geturl())

    viewer.page.route(re.compile(r"/api/surfaces(\?.*)?$"), small_pages)
    viewer.open("?s=pair-a")
    shown = viewer.page.eval_on_selector_all("#catalog li", "(els) => els.map((e) => e.dataset.id)")
    assert shown == [s["id"] for s in listed["surfaces"]]
    assert viewer.page.inner_text("#catalog-count") == f"({len(shown)})"
    assert asked == [str(offset) for offset in range(0, len(shown), 3)] and viewer.errors == []


def test_a_slice_spans_the_1d_plots_height(viewer, surfaces):
    """The 1-D view's y axis spanned the whole surface, so a slice through its valley lay in a sliver at
    the bottom of the plot: it spans the curves drawn (log scale too), lowest point at the bottom."""
    a = surfaces["pair-a"]
    iy = int(np.argmin(np.abs(a.ycoordinates)))  # the slice goes through y = 0
    row = a.metrics["train_loss"][iy]
    assert row.max() - row.min() < 0.6 * (a.metrics["train_loss"].max() - a.metrics["train_loss"].min())
    for query in ("?s=pair-a&v=1d", "?s=pair-a&v=1d&log=1"):
        viewer.open(query)
        plot = viewer.page.evaluate("() => window.__lossatlas.plotRect()")
        ys = [viewer.screen("pair-a", ix, iy)["y"] for ix in range(a.xcoordinates.size)]
        height = plot["bottom"] - plot["top"]
        top, low = ys[int(np.argmax(row))], ys[int(np.argmin(row))]
        assert top - plot["top"] < 0.05 * height and plot["bottom"] - low < 0.05 * height, (query, plot, ys)
        whole = viewer.state()["z"]["max"]  # the 3-D and contour views keep the whole surface's scale
        assert whole == pytest.approx(a.metrics["train_loss"].max(), rel=1e-6)
    assert viewer.errors == []
