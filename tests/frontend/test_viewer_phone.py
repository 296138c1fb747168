"""The viewer on a phone (390 x 844, touch) and from the keyboard (issue 15): the plot gets the screen,
side panels are drawers, nothing scrolls sideways, a tap shows the tooltip, one finger orbits and two
pinch-zoom (real touch events through the DevTools protocol)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from frontend_support import Viewer
from PIL import Image

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser, server):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(20000)
    yield Viewer(page, server["base"]), context.new_cdp_session(page)
    context.close()


def touch(cdp, kind: str, points: list[tuple[float, float]]) -> None:
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": kind, "touchPoints": [{"x": x, "y": y, "id": k} for k, (x, y) in enumerate(points)]},
    )


def bottom(box: dict) -> float:
    return box["y"] + box["height"]


def distance(camera) -> float:
    return float(np.linalg.norm(np.array(camera[:3]) - np.array(camera[3:])))


def test_phone_layout_tap_and_touch_camera(phone, surfaces):
    viewer, cdp = phone
    viewer.open("?s=pair-a")
    page = viewer.page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("#viewport").bounding_box()
    assert box["width"] >= PHONE["width"] - 2 and box["height"] > 600  # the plot gets the screen
    assert page.locator("#left-panel").is_hidden()
    page.tap("#toggle-left")
    panel = page.locator("#left-panel").bounding_box()
    assert (
        page.locator("#left-panel").is_visible() and panel["x"] >= 0 and panel["x"] + panel["width"] <= PHONE["width"]
    )
    page.tap("#toggle-left")
    assert page.locator("#left-panel").is_hidden()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert "pinch" in page.locator("#hint").inner_text()

    # A tap on a grid point shows its values.
    s = surfaces["pair-a"]
    ix, iy = next(
        (i, j) for j in (1, 2, 0) for i in (4, 3, 5, 2, 6) if (viewer.screen("pair-a", i, j) or {}).get("visible")
    )
    at = viewer.screen("pair-a", ix, iy)
    page.touchscreen.tap(at["x"], at["y"])
    page.wait_for_selector("#tooltip:not([hidden])")
    assert page.locator("#tooltip [data-key=index] b").inner_text() == f"ix {ix}, iy {iy}"
    value = float(page.locator("#tooltip [data-key=value] b").inner_text().split()[0])
    assert math.isclose(value, s.metrics["train_loss"][iy, ix], rel_tol=2e-5)

    # One finger orbits (never under the floor), two fingers pinching out zoom in.
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    before = viewer.state()["camera"]
    touch(cdp, "touchStart", [(cx, cy)])
    for k in range(1, 9):
        touch(cdp, "touchMove", [(cx + 25 * k, cy + 10 * k)])
    touch(cdp, "touchEnd", [])
    orbit = viewer.state()["camera"]
    assert not np.allclose(orbit[:3], before[:3], atol=1e-2) and orbit[2] > orbit[5]
    assert distance(orbit) == pytest.approx(distance(before), rel=1e-2)
    touch(cdp, "touchStart", [(cx - 30, cy), (cx + 30, cy)])
    for k in range(1, 9):
        touch(cdp, "touchMove", [(cx - 30 - 12 * k, cy), (cx + 30 + 12 * k, cy)])
    touch(cdp, "touchEnd", [])
    assert distance(viewer.state()["camera"]) < 0.8 * distance(orbit)
    assert viewer.errors == []


def test_keyboard_reaches_the_view_and_focus_is_visible(viewer):
    viewer.open("?s=pair-a")
    page = viewer.page
    canvas = page.locator("#view-3d canvas")
    assert canvas.get_attribute("tabindex") == "0"
    page.focus("#reset-view")
    page.keyboard.press("Tab")  # to the next toolbar button, by keyboard: its focus ring shows
    assert page.evaluate("() => document.activeElement.id") == "export-png"
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"
    canvas.focus()
    before = viewer.state()["camera"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("-")
    after = viewer.state()["camera"]
    assert not np.allclose(after[:3], before[:3], atol=1e-2)
    assert distance(after) == pytest.approx(distance(before) * 1.15, rel=5e-3)


def test_each_drawer_closes_by_its_button_or_escape(phone):
    """The toolbar wraps onto rows on a phone: the details drawer covered its own button, so it could
    not be closed. Each drawer's button stays on top of it; Escape closes either and says so."""
    viewer, _ = phone
    viewer.open("?s=pair-a")
    page = viewer.page
    for side in ("left", "right"):
        panel, button = page.locator(f"#{side}-panel"), page.locator(f"#toggle-{side}")
        page.tap(f"#toggle-{side}")
        assert panel.is_visible() and button.get_attribute("aria-expanded") == "true"
        page.tap(f"#toggle-{side}")  # nothing lies over the button (else the tap waits for it, and times out)
        assert panel.is_hidden() and button.get_attribute("aria-expanded") == "false"
    page.tap("#toggle-left")
    page.tap("#toggle-right")  # one drawer at a time: the other closes and its button says so
    assert (
        page.locator("#left-panel").is_hidden()
        and page.locator("#toggle-left").get_attribute("aria-expanded") == "false"
    )
    page.keyboard.press("Escape")
    assert page.locator("#right-panel").is_hidden()
    assert page.evaluate("() => document.activeElement.id") == "toggle-right"
    assert page.locator("#toggle-right").get_attribute("aria-expanded") == "false"
    assert viewer.errors == []


def test_1d_legend_and_note_fit_a_phone(phone, surfaces):
    """A long name (a difference layer's) in a 390 px wide 1-D view: the legend stays within the plot's
    width (names cut short) and the plot starts below the title; the slice is still the surface's row."""
    viewer, _ = phone
    viewer.open("?s=pair-b,pair-a~pair-b&v=1d")
    page = viewer.page
    rect = page.evaluate("() => window.__lossatlas.plotRect()")
    legend = rect["legend"]
    assert rect["left"] <= legend["left"] < legend["right"] <= rect["right"], rect
    title = page.locator("#title").bounding_box()
    assert rect["top"] >= title["y"] + title["height"]
    s = surfaces["pair-b"]
    iy = int(np.argmin(np.abs(s.ycoordinates)))
    at = viewer.screen("pair-b", 6, iy)
    page.touchscreen.tap(at["x"], at["y"])
    page.wait_for_selector("#tooltip:not([hidden])")
    value = float(page.locator("#tooltip [data-key=value] b").inner_text().split()[0])
    assert math.isclose(value, s.metrics["train_loss"][iy, 6], rel_tol=2e-5)
    assert viewer.errors == []


def test_a_notice_goes_when_the_view_is_touched_and_an_error_stays(phone):
    """On a phone the banner covers the top of the plot: a notice (the link asked for something the page
    could not do, and it did the nearest thing) stayed until closed with its small ×. It goes at the first
    touch of the view (still listed in the test hook's notes); an error stays until closed."""
    viewer, _ = phone
    page = viewer.page
    viewer.open("?s=pair-a&cm=rainbow&v=map")
    banner = page.locator("#error")
    assert banner.is_visible() and "rainbow" in banner.inner_text()
    box = page.evaluate("() => window.__lossatlas.plotRect()")
    page.touchscreen.tap((box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2)
    banner.wait_for(state="hidden")
    assert any("rainbow" in note for note in viewer.state()["notes"])

    viewer.open("?s=no-such-surface,pair-a&v=map")
    assert banner.is_visible() and "no-such-surface" in banner.inner_text()
    box = page.evaluate("() => window.__lossatlas.plotRect()")
    page.touchscreen.tap((box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2)
    page.wait_for_selector("#tooltip:not([hidden])")  # the tap was handled
    assert banner.is_visible()
    page.tap("#error button")
    assert banner.is_hidden()
    assert [e for e in viewer.errors if "404" not in e] == []  # the browser logs the missing surface


def test_the_1d_slice_note_says_tap_on_a_touch_screen(phone):
    """The slice note said "hover the 3-D or contour view to move it": a phone cannot hover; a tap moves it."""
    viewer, _ = phone
    viewer.open("?s=pair-a,pair-b&v=1d")
    note = viewer.page.evaluate("() => window.__lossatlas.flatAxes().note")
    assert " ".join(note) == "slice along x through y = 0 (tap the 3-D or contour view to move it)", note
    assert viewer.errors == []


def test_picking_surfaces_to_show_closes_the_drawer(phone):
    """On a phone the catalog lies in a drawer over the view: a preset or a surface's name (show just
    these) left it open over what it had just shown. They close it; a tick (one more surface) does not."""
    viewer, _ = phone
    viewer.open("?s=seed-2")
    page = viewer.page
    panel = page.locator("#left-panel")
    page.tap("#toggle-left")
    page.tap("#presets button[data-preset=pair-a]")
    viewer.wait_ready()
    assert viewer.state()["ids"] == ["pair-a", "pair-b"] and panel.is_hidden()
    assert page.locator("#toggle-left").get_attribute("aria-expanded") == "false"
    page.tap("#toggle-left")
    page.tap("#catalog li[data-id=seed-3] input")
    viewer.wait_ready()
    assert viewer.state()["ids"] == ["pair-a", "pair-b", "seed-3"] and panel.is_visible()
    page.tap("#catalog li[data-id=seed-2] button.name")
    viewer.wait_ready()
    assert viewer.state()["ids"] == ["seed-2"] and panel.is_hidden()
    assert viewer.errors == []


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_scrolled_drawer_shows_nothing_under_its_button(phone, side):
    """The drawers' content scrolled up under their toggle button, showing cut headings round it: the
    button now stands on a band of its own (the panel's colour only), above the scrolling content."""
    viewer, _ = phone
    viewer.open("?s=pair-a,pair-b")
    page = viewer.page
    page.tap(f"#toggle-{side}")
    if side == "left":
        viewer.open_job_form()  # a long drawer
    panel = page.locator(f"#{side}-panel")
    for top in (0, 37, 200):  # scrolled by whole lines and by part of one
        panel.evaluate("(el, top) => { el.scrollTop = top; }", top)
        button, box = page.locator(f"#toggle-{side}").bounding_box(), panel.bounding_box()
        left = button["x"] + button["width"] + 4 if side == "left" else box["x"] + 2
        right = box["x"] + box["width"] - 2 if side == "left" else button["x"] - 4
        band = page.screenshot(clip={"x": left, "y": 2, "width": right - left, "height": 40})
        pixels = np.asarray(Image.open(io.BytesIO(band)).convert("RGB")).astype(int)
        panel_rgb = np.array([0x16, 0x1B, 0x24])  # style.css --panel
        assert (np.abs(pixels - panel_rgb).sum(axis=2) <= 6).all(), f"something drawn beside the button at {top}"
    assert viewer.errors == []


def test_the_toolbar_takes_two_rows_on_a_phone(phone):
    """The toolbar wrapped onto three rows on a 390 px phone (112 px off the plot): "Reset" and "1-D" (their
    titles say the rest) keep it to two, every button whole on the screen."""
    viewer, _ = phone
    viewer.open("?s=pair-a")
    page = viewer.page
    bar = page.locator(".topbar").bounding_box()
    row = page.locator("#toggle-left").bounding_box()["height"]
    assert bar["height"] < 2 * row + 30, bar  # two rows of buttons and their gaps
    for selector in (
        "#toggle-left",
        "[data-view='3d']",
        "[data-view=map]",
        "[data-view='1d']",
        "#reset-view",
        "#export-png",
        "#copy-link",
        "#toggle-right",
    ):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
    assert (
        page.locator("[data-view='1d']").inner_text() == "1-D" and page.locator("#reset-view").inner_text() == "Reset"
    )
    assert page.locator("#viewport").bounding_box()["height"] >= PHONE["height"] - bar["height"] - 1
    assert viewer.errors == []


def test_a_tap_tooltip_lies_above_the_finger_within_the_view(phone):
    """A tap's tooltip sat below right of the finger, under the hand and over the map: it goes above the
    finger where there is room (beside it near the top), inside the view and clear of the tapped point."""
    viewer, _ = phone
    viewer.open("?s=pair-a&v=map")
    page = viewer.page
    view = page.locator("#viewport").bounding_box()
    for ix, iy in ((4, 4), (4, 0), (0, 8), (8, 8), (0, 0)):  # centre, bottom edge, top corners, bottom left
        at = viewer.screen("pair-a", ix, iy)
        page.touchscreen.tap(at["x"], at["y"])
        page.wait_for_function(
            "(t) => document.querySelector('#tooltip [data-key=index] b')?.textContent === t", arg=f"ix {ix}, iy {iy}"
        )
        tip = page.locator("#tooltip").bounding_box()
        right, bottom = tip["x"] + tip["width"], tip["y"] + tip["height"]
        assert view["x"] <= tip["x"] and right <= view["x"] + view["width"], (ix, iy, tip)
        assert view["y"] <= tip["y"] and bottom <= view["y"] + view["height"], (ix, iy, tip)
        clear_x = at["x"] < tip["x"] - 40 or at["x"] > right + 40
        clear_y = at["y"] < tip["y"] - 40 or at["y"] > bottom + 40
        assert clear_x or clear_y, f"the tooltip {tip} lies under the finger at {at}"
        if at["y"] - view["y"] > tip["height"] + 50:
            assert bottom <= at["y"] - 40, f"room above ({ix}, {iy}) {at}, yet the tooltip is at {tip}"
    assert viewer.errors == []


def test_a_tap_tooltip_is_compact_with_long_surface_names(phone, surfaces):
    """The tap's tooltip ran as wide as the surface names on one line (335 of 390 px with the gallery's,
    280 with these), over the map's top: names wrap, the box keeps to 232 px, and every value stays whole
    on one line in 12 px type."""
    viewer, _ = phone
    viewer.open("?s=pair-b,pair-a&v=map")
    page = viewer.page
    at = viewer.screen("pair-b", 4, 6)
    page.touchscreen.tap(at["x"], at["y"])
    page.wait_for_function("() => document.querySelector('#tooltip [data-key=index] b')?.textContent === 'ix 4, iy 6'")
    tip = page.locator("#tooltip").bounding_box()
    view = page.locator("#viewport").bounding_box()
    assert tip["width"] <= 232 and view["x"] <= tip["x"] and tip["x"] + tip["width"] <= view["x"] + view["width"], tip
    title = page.locator("#tooltip .tt-title").inner_text()
    assert title == "TinyCNN without shortcuts"  # wrapped, not cut
    z = surfaces["pair-a"].metrics["train_loss"][6, 4]
    rows = page.evaluate(
        "() => [...document.querySelectorAll('#tooltip .tt-row b')].filter((b) => b.textContent).map((b) => {"
        " const range = document.createRange(); range.selectNodeContents(b);"
        " return {text: b.textContent, lines: range.getClientRects().length, size: parseFloat(getComputedStyle(b).fontSize)}; })"
    )
    assert float(rows[-1]["text"]) == pytest.approx(z, abs=2e-5), rows  # pair-a's, the every-surface rows' last
    for r in rows:
        assert r["lines"] == 1 and r["size"] >= 12, r  # one line each, readable
    assert viewer.errors == []


def test_a_phones_contour_map_takes_the_width_with_its_colour_bar_under_it(phone):
    """The colour bar on the right left an upright phone's map 182 px square between empty bands: the map
    takes the width below the title, and the bar lies under it, inside the view, over no part of the map."""
    viewer, _ = phone
    viewer.open("?s=pair-a&v=map")
    page = viewer.page
    plot = page.evaluate("() => window.__lossatlas.plotRect()")
    view = page.locator("#viewport").bounding_box()
    bar = page.locator("#colorbar").bounding_box()
    assert plot["right"] - plot["left"] >= view["width"] - 100, plot  # 78 px of y axis, a small margin
    assert plot["right"] - plot["left"] == pytest.approx(plot["bottom"] - plot["top"], abs=1)  # still equal aspect
    title = bottom(page.locator("#title").bounding_box())
    assert title <= plot["top"] <= title + 24
    assert plot["bottom"] + 30 <= bar["y"] and bar["y"] + bar["height"] <= view["y"] + view["height"]
    assert page.locator("#colorbar canvas").is_visible()
    viewer.open("?s=pair-a,pair-b&v=map")  # overlaid contours in colours of their own: no colour bar
    plot = page.evaluate("() => window.__lossatlas.plotRect()")
    assert page.locator("#colorbar").is_hidden() and plot["right"] - plot["left"] >= view["width"] - 100, plot
    assert plot["top"] <= bottom(page.locator("#title").bounding_box()) + 24
    assert viewer.errors == []


def test_a_phones_3d_view_takes_the_width_with_its_colour_bar_under_it(phone):
    """One surface in 3-D on an upright phone was drawn 72 px narrower than the screen, beside a colour bar
    with empty space above and below: the view takes the width and the bar lies under it, above the hint;
    two overlaid surfaces (no bar) and side-by-side panes keep the whole view."""
    viewer, _ = phone
    page = viewer.page
    viewer.open("?s=pair-a")
    view = page.locator("#viewport").bounding_box()
    canvas = page.locator("#view-3d canvas").bounding_box()
    bar = page.locator("#colorbar").bounding_box()
    hint = page.locator("#hint").bounding_box()
    assert canvas["width"] == view["width"] and canvas["y"] == view["y"], (canvas, view)
    assert canvas["y"] + canvas["height"] <= bar["y"] and bar["y"] + bar["height"] <= hint["y"], (canvas, bar, hint)
    for ix, iy in ((0, 0), (8, 0), (0, 8), (8, 8)):  # the whole surface is drawn, in the shorter canvas
        at = viewer.screen("pair-a", ix, iy)
        assert canvas["x"] <= at["x"] <= canvas["x"] + canvas["width"], (ix, iy, at)
        assert canvas["y"] <= at["y"] <= canvas["y"] + canvas["height"], (ix, iy, at)
    for query in ("?s=pair-a,pair-b", "?s=pair-a,pair-b&p=1"):
        viewer.open(query)
        canvas = page.locator("#view-3d canvas").bounding_box()
        assert canvas["y"] + canvas["height"] >= view["y"] + view["height"] - 100, (query, canvas)
    assert viewer.errors == []


def test_a_phones_png_export_puts_the_colour_bar_under_the_view_as_the_screen_does(phone):
    """The export put the colour bar to the right of the picture (390 px of view, then the bar) where the
    phone shows it under the view: the picture keeps the view's width and draws the bar where the screen
    does, relative to the view (under the 3-D view; under the contour map, inside its canvas)."""
    viewer, _ = phone
    page = viewer.page
    for query, view_id in (("?s=pair-a", "#view-3d"), ("?s=pair-a&v=map", "#view-map")):
        viewer.open(query)
        with page.expect_download() as info:
            page.click("#export-png")
        pixels = np.asarray(Image.open(info.value.path()).convert("RGB")).astype(int)
        canvas = page.evaluate(
            "(sel) => { const el = document.querySelector(sel); const c = el.tagName === 'CANVAS' ? el : el.querySelector('canvas');"
            " return [c.width, c.height]; }",
            view_id,
        )
        view = page.locator(view_id).bounding_box()
        bar = page.locator("#colorbar canvas").bounding_box()
        assert pixels.shape[1] == canvas[0], (query, pixels.shape, canvas)  # nothing added on the right
        top, left = round(bar["y"] - view["y"]), round(bar["x"] - view["x"])
        assert pixels.shape[0] >= top + bar["height"], (query, pixels.shape, bar)
        # the bar's colours (viridis, yellow at the top and purple at the bottom) where the screen shows it
        box = pixels[top : top + round(bar["height"]), left : left + round(bar["width"])]
        assert near(box, "#fde725", 60).any() and near(box, "#440154", 60).any(), query
    assert viewer.errors == []


def near(pixels: np.ndarray, color: str, tolerance: int) -> np.ndarray:
    """Which pixels (RGB, last axis) are within ``tolerance`` (summed over channels) of a #rrggbb colour."""
    rgb = np.array([int(color[k : k + 2], 16) for k in (1, 3, 5)])
    return np.abs(pixels - rgb).sum(axis=-1) <= tolerance
