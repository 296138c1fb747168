"""What the viewer draws over itself stays apart: the plots start below the title (which grows with the
names shown) and the 3-D view, panes included, ends left of the colour bar; values read back through
the tooltip still match the files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from frontend_support import GALLERY

pytestmark = pytest.mark.slow
FOUR = ("pair-a", "pair-b", "seed-2", "seed-3")


def bottom(box: dict) -> float:
    return box["y"] + box["height"]


def test_flat_plots_start_below_the_title(viewer, surfaces):
    """Four names wrap the title over several lines in a 1000 px window: the 1-D plot and the contour
    map start below it, and the highest point of each slice is drawn there, not under the title."""
    page = viewer.page
    page.set_viewport_size({"width": 1000, "height": 760})
    viewer.open(f"?s={','.join(FOUR)}&v=1d")
    title = page.locator("#title").bounding_box()
    assert title["height"] > 64  # several lines: the plots' fixed 64 px top margin was under it
    rect = page.evaluate("() => window.__lossatlas.plotRect()")
    assert rect["top"] >= bottom(title)
    for sid in FOUR:  # the slice along x through y = 0 (the middle row of these 9 x 9 grids)
        s = surfaces[sid]
        iy = int(np.argmin(np.abs(s.ycoordinates)))
        ix = int(np.argmax(s.metrics["train_loss"][iy]))
        at = viewer.screen(sid, ix, iy)
        assert bottom(title) < at["y"] <= rect["bottom"] + 1, (sid, at, title)
    rows = viewer.hover("seed-3", ix, iy)  # the last ones: seed-3's highest point, read back
    assert math.isclose(float(rows["value"]), s.metrics["train_loss"][iy, ix], rel_tol=2e-5)
    viewer.click("[data-view=map]")
    rect = page.evaluate("() => window.__lossatlas.plotRect()")
    assert rect["top"] >= bottom(page.locator("#title").bounding_box())
    assert viewer.errors == []


@pytest.mark.parametrize(("query", "sid"), [("?s=pair-a", "pair-a"), ("?s=pair-a,pair-b&p=1", "pair-b")])
def test_the_3d_view_ends_left_of_the_colour_bar(viewer, surfaces, query, sid):
    """One surface, or panes: the colour bar is shown beside the view, never over a pane's surface;
    hovering the last pane still reads its own surface."""
    page = viewer.page
    viewer.open(query)
    bar = page.locator("#colorbar").bounding_box()
    canvas = page.locator("#view-3d canvas").bounding_box()
    assert page.locator("#colorbar").is_visible()
    assert canvas["x"] + canvas["width"] <= bar["x"]
    ix, iy = next((i, j) for j in (1, 2, 0) for i in (4, 3, 5, 2, 6) if viewer.screen(sid, i, j)["visible"])
    rows = viewer.hover(sid, ix, iy)
    assert rows["surface"] == GALLERY[sid][0]
    assert math.isclose(float(rows["value"]), surfaces[sid].metrics["train_loss"][iy, ix], rel_tol=2e-5)
    # Overlaid in one colour each: no colour bar, the view takes the whole width.
    viewer.open("?s=pair-a,pair-b")
    assert page.locator("#colorbar").is_hidden()
    canvas = page.locator("#view-3d canvas").bounding_box()
    assert canvas["width"] == pytest.approx(page.locator("#viewport").bounding_box()["width"], abs=1)
    assert viewer.errors == []


def z_ticks(viewer) -> list[dict]:
    return [label for label in viewer.state()["labels"] if label["role"] == "z-tick"]


@pytest.mark.parametrize("cam", ["", "&cam=4,1,2.5,0,0,0.35", "&cam=-3.3,3.95,2.75,0,0,0.35"])
def test_no_x_or_y_tick_stands_in_line_under_the_z_ticks(viewer, cam):
    """The x tick at the z axis's corner ("-1") stood where the next z tick below the lowest would be, so
    the loss axis read 5, then -1. Below the lowest z tick, no x or y tick label lies within 30 px of the
    z ticks' line (fitted through their centres), from the default camera, with the axis at another
    corner and from behind."""
    viewer.open(f"?s=pair-a{cam}")
    labels = viewer.state()["labels"]
    centre = lambda b: ((b["left"] + b["right"]) / 2, (b["top"] + b["bottom"]) / 2)  # noqa: E731
    z = sorted((centre(t["box"]) for t in labels if t["role"] == "z-tick"), key=lambda c: c[1])
    assert len(z) >= 3
    slope, offset = np.polyfit([y for _, y in z], [x for x, _ in z], 1)  # x along the column, as a function of y
    lowest, step = z[-1][1], (z[-1][1] - z[0][1]) / (len(z) - 1)
    for label in labels:
        if label["role"] in ("x-tick", "y-tick"):
            x, y = centre(label["box"])
            if lowest < y < lowest + 2.5 * step:
                assert abs(x - (slope * y + offset)) > 30, (label, z)
    assert viewer.errors == []


def test_z_axis_ticks_stand_clear_of_the_surfaces(viewer):
    """Overlaid surfaces have no colour bar: the z axis is the one scale in view. Its tick labels are
    not behind a surface, from the default camera, from the other side and after a drag half round
    (the axis moves to the floor's corner the camera sees leftmost)."""
    for cam in ("", "&cam=-3.3,3.95,2.75,0,0,0.35", "&cam=0.3,-5,2.75,0,0,0.35"):
        viewer.open(f"?s=pair-a,pair-b,seed-2{cam}")
        ticks = z_ticks(viewer)
        assert len(ticks) >= 3 and not any(t["hidden"] for t in ticks), (cam, ticks)
    page = viewer.page
    box = page.locator("#view-3d canvas").bounding_box()
    before = viewer.state()["camera"]
    page.mouse.move(box["x"] + 100, box["y"] + box["height"] / 2)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + 100 + 40 * k, box["y"] + box["height"] / 2)
    page.mouse.up()
    after = viewer.state()["camera"]
    assert np.sign(after[0]) != np.sign(before[0]) or np.sign(after[1]) != np.sign(before[1])  # round the back
    ticks = z_ticks(viewer)
    assert len(ticks) >= 3 and not any(t["hidden"] for t in ticks), ticks
    assert viewer.errors == []


def inside(point: dict, rect: dict, slack: float = 0) -> bool:
    return (
        rect["left"] - slack <= point["x"] <= rect["left"] + rect["width"] + slack
        and rect["top"] - slack <= point["y"] <= rect["top"] + rect["height"] + slack
    )


def apart(a: dict, b: dict) -> bool:
    """Whether two labels' text stands apart (a label's box is its canvas: the type is 1/1.3 of its height)."""
    pad = (a["bottom"] - a["top"]) * (1 - 1 / 1.3) / 2, (b["bottom"] - b["top"]) * (1 - 1 / 1.3) / 2
    return (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] - pad[0] <= b["top"] + pad[1]
        or b["bottom"] - pad[1] <= a["top"] + pad[0]
    )


@pytest.mark.parametrize("size", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_four_panes_share_the_view_in_a_grid(viewer, surfaces, size):
    """Four panes in a 1280 px window were four 145 px strips that cut the surfaces: now a grid of
    panes of a usable shape between the title and the hint, each named, holding its whole surface with
    labels large enough to read (a phone's 158 px panes drew them 6 px high: now at least 10.5 px, with
    fewer ticks, each label whole in its pane and clear of the others); hover reads each pane's own
    surface and a drag turns all of them."""
    page = viewer.page
    page.set_viewport_size(size)
    viewer.open(f"?s={','.join(FOUR)}&p=1")
    assert viewer.state()["panes"] == 4
    rects = page.evaluate("() => window.__lossatlas.paneRects()")
    canvas = page.locator("#view-3d canvas").bounding_box()
    for r in rects:
        assert r["width"] >= 150 and r["height"] >= 150 and 0.5 <= r["width"] / r["height"] <= 2, rects
        assert canvas["x"] - 1 <= r["left"] and r["left"] + r["width"] <= canvas["x"] + canvas["width"] + 1
        assert canvas["y"] - 1 <= r["top"] and r["top"] + r["height"] <= canvas["y"] + canvas["height"] + 1
    for a, b in zip(rects, rects[1:]):  # no two overlap
        assert a["left"] + a["width"] <= b["left"] + 1 or a["top"] + a["height"] <= b["top"] + 1, (a, b)
    assert bottom(page.locator("#title").bounding_box()) <= canvas["y"]
    assert page.locator("#hint").bounding_box()["y"] >= canvas["y"] + canvas["height"]
    labels = page.locator("#view-3d .pane-cells .layer-title")
    for i, sid in enumerate(FOUR):
        assert labels.nth(i).inner_text() == GALLERY[sid][0]
        box = labels.nth(i).bounding_box()
        assert inside({"x": box["x"] + 1, "y": box["y"] + 1}, rects[i]), (sid, box, rects[i])
        for ix, iy in ((0, 0), (8, 0), (0, 8), (8, 8), (4, 4)):  # the whole surface lies in its own pane
            assert inside(viewer.screen(sid, ix, iy), rects[i]), (sid, ix, iy, rects[i])
    labels = viewer.state()["labels"]
    ticks = [label for label in labels if label["role"] == "z-tick"]
    assert len(ticks) >= 3 and min(t["height_px"] for t in ticks) >= 10.5, ticks
    assert min(label["height_px"] for label in labels) >= 10, labels  # the far ones too
    pane = {"left": rects[0]["left"], "top": rects[0]["top"]}
    pane.update(right=pane["left"] + rects[0]["width"], bottom=pane["top"] + rects[0]["height"])
    for label in labels:  # whole in its pane (the first: all draw the same axes)
        box = label["box"]
        assert pane["left"] <= box["left"] and box["right"] <= pane["right"], (label, pane)
        assert pane["top"] <= box["top"] and box["bottom"] <= pane["bottom"], (label, pane)
    for role in ("z-tick", "x-tick", "y-tick"):
        same = [label["box"] for label in labels if label["role"] == role]
        least = 3 if role == "z-tick" else 2  # of 3 x or y ticks, one may stand at the z axis's corner, unlabelled
        assert len(same) >= least and all(apart(a, b) for a, b in zip(same, same[1:])), (role, same)
    for sid in (FOUR[3], FOUR[0]):
        ix, iy = next((i, j) for j in (1, 2, 0) for i in (4, 3, 5, 2, 6) if viewer.screen(sid, i, j)["visible"])
        rows = viewer.hover(sid, ix, iy)
        assert rows["surface"] == GALLERY[sid][0]
        assert math.isclose(float(rows["value"]), surfaces[sid].metrics["train_loss"][iy, ix], rel_tol=2e-5)

    # One camera: a drag in the last pane turns every pane (the same grid point moves the same way in each).
    def offsets() -> list[tuple[float, float]]:
        return [
            (viewer.screen(sid, 4, 1)["x"] - rects[i]["left"], viewer.screen(sid, 4, 1)["y"] - rects[i]["top"])
            for i, sid in enumerate(FOUR)
        ]

    before = offsets()
    last = rects[3]
    page.mouse.move(last["left"] + last["width"] / 3, last["top"] + last["height"] / 2)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(last["left"] + last["width"] / 3 + 12 * k, last["top"] + last["height"] / 2)
    page.mouse.up()
    after = offsets()
    moved = [a[0] - b[0] for a, b in zip(after, before)]
    assert all(m > 3 for m in moved) or all(m < -3 for m in moved), moved
    assert viewer.errors == []


@pytest.mark.parametrize("size", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_the_1d_legend_covers_no_curve(viewer, surfaces, size):
    """The legend stood inside the plot's top right corner, over the curves' highest points: it now
    stands between the title and the plot, as wide as the plot, and every point of every slice is
    drawn in the plot, clear of it."""
    page = viewer.page
    page.set_viewport_size(size)
    viewer.open(f"?s={','.join(FOUR)}&v=1d")
    rect = page.evaluate("() => window.__lossatlas.plotRect()")
    legend = rect["legend"]
    assert bottom(page.locator("#title").bounding_box()) <= legend["top"] < legend["bottom"] <= rect["top"], rect
    assert rect["left"] <= legend["left"] < legend["right"] <= rect["right"], rect
    for sid in FOUR:  # the slice along x through y = 0
        s = surfaces[sid]
        iy = int(np.argmin(np.abs(s.ycoordinates)))
        for ix in range(len(s.xcoordinates)):
            at = viewer.screen(sid, ix, iy)
            assert rect["top"] <= at["y"] <= rect["bottom"] and rect["left"] <= at["x"] <= rect["right"] + 1
    assert viewer.errors == []


@pytest.mark.parametrize(("size", "least"), [({"width": 1280, "height": 800}, 7), ({"width": 390, "height": 844}, 3)])
def test_1d_x_tick_labels_stand_apart(viewer, surfaces, size, least):
    """On a phone the 1-D view's nine x tick labels (-1 ... 1 by 0.25) overlapped: the tick count now
    follows the room the labels need (a wide window keeps them all). Each label sits over its value."""
    page = viewer.page
    page.set_viewport_size(size)
    viewer.open("?s=line")
    assert viewer.state()["view"] == "1d"
    x = surfaces["line"].xcoordinates
    rect = page.evaluate("() => window.__lossatlas.plotRect()")
    labels = page.evaluate("() => window.__lossatlas.flatAxes().xticks")
    assert len(labels) >= least, labels
    for a, b in zip(labels, labels[1:]):
        assert a["right"] + 8 <= b["left"], f"{a['text']} and {b['text']} touch: {labels}"
    for label in labels:
        assert float(label["text"].replace("−", "-")) == pytest.approx(label["value"])
        assert x.min() <= label["value"] <= x.max()
        at = rect["left"] + (label["value"] - x.min()) / (x.max() - x.min()) * (rect["right"] - rect["left"])
        assert (label["left"] + label["right"]) / 2 == pytest.approx(at, abs=1)
    assert viewer.errors == []


@pytest.mark.parametrize("size", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_the_1d_slice_note_is_never_cut(viewer, size):
    """The note under a slice ("slice along x through y = 0 (hover ... to move it)") was cut short with
    an ellipsis on a phone, losing how to move the slice: it now takes a second line there."""
    page = viewer.page
    page.set_viewport_size(size)
    viewer.open("?s=pair-a,pair-b&v=1d")
    note = page.evaluate("() => window.__lossatlas.flatAxes().note")
    assert " ".join(note) == "slice along x through y = 0 (hover the 3-D or contour view to move it)", note
    assert len(note) == (2 if size["width"] < 500 else 1)
    assert viewer.errors == []


@pytest.mark.parametrize("size", [{"width": 1400, "height": 860}, {"width": 390, "height": 844}])
def test_the_status_line_never_covers_the_hint(viewer, size):
    """A partial surface's progress in the status line ran over the 3-D view's hint (both at the bottom):
    on a wide screen the status stands at the bottom right, clear of the hint; on a phone it takes the
    width it needs and the hint gives way while it shows."""
    page = viewer.page
    page.set_viewport_size(size)
    viewer.open("?s=partial")
    status, hint = page.locator("#status"), page.locator("#hint")
    assert status.inner_text() == "TinyCNN stopped early: 13 of 81 points (coarse preview)"
    a, view = status.bounding_box(), page.locator("#viewport").bounding_box()
    assert view["x"] <= a["x"] and a["x"] + a["width"] <= view["x"] + view["width"]
    if hint.is_visible():
        b = hint.bounding_box()
        assert a["x"] >= b["x"] + b["width"] or b["x"] >= a["x"] + a["width"] or a["y"] >= b["y"] + b["height"], (a, b)
    else:
        assert size["width"] < 700  # the hint gives way on a phone only
    assert viewer.errors == []


@pytest.mark.parametrize("size", [{"width": 1400, "height": 860}, {"width": 390, "height": 844}])
def test_long_surface_names_wrap_in_the_title(viewer, size):
    """A difference layer's name ("A − B (B resampled to A’s grid)") ran out of the title, cut at the
    view's edge: names wrap within the title, in the 3-D, contour and 1-D views."""
    page = viewer.page
    page.set_viewport_size(size)
    for view in ("3d", "map", "1d"):
        viewer.open(f"?s=seed-3~pair-b,pair-a&v={view}")
        title = page.locator("#title").bounding_box()
        names = page.locator("#title .layer-title")
        assert names.count() == 2
        for i in range(2):
            box = names.nth(i).bounding_box()
            assert title["x"] <= box["x"] and box["x"] + box["width"] <= title["x"] + title["width"] + 0.5, (view, box)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= size["width"]
    assert viewer.errors == []


@pytest.mark.parametrize("size", [{"width": 1400, "height": 900}, {"width": 1280, "height": 800}])
def test_two_panes_take_the_layout_that_draws_the_surfaces_larger(viewer, size):
    """Two panes in a 1400 x 900 window stood side by side, 352 x 710 each, the surfaces drawn at the
    panes' width over a third of their height: the panes take rows or columns, whichever gives the
    surfaces more room (a pane draws its surface at the size of its shorter side)."""
    page = viewer.page
    page.set_viewport_size(size)
    viewer.open("?s=pair-a,pair-b&p=1")
    rects = page.evaluate("() => window.__lossatlas.paneRects()")
    canvas = page.locator("#view-3d canvas").bounding_box()
    W, H = canvas["width"], canvas["height"]
    side = min(rects[0]["width"], rects[0]["height"])
    assert side >= max(min(W / 2, H), min(W, H / 2)) - 1, (rects, W, H)
    for i, sid in enumerate(("pair-a", "pair-b")):
        points = [viewer.screen(sid, ix, iy) for ix in range(9) for iy in range(9)]
        xs = [p["x"] for p in points]
        assert max(xs) - min(xs) >= 0.6 * side, (sid, rects[i], points)  # drawn at the shorter side's size
    assert viewer.errors == []
