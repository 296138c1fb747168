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
