"""A catalog of many surfaces (300 copies of one tiny file, some with names that wrap): the list makes
only the rows in and near its view (2,000 rows made each filter keystroke cost 0.2 s), yet scrolling
shows every surface in order with no gap, the scroll bar spans the whole list, and the filter finds
surfaces that were never made."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from frontend_support import Viewer, running, server_settings, viewer_on

from workers import SurfaceSpec, compute_surface, write_surface

pytestmark = pytest.mark.slow

N = 300


def title(i: int) -> str:
    return f"Surface {i} of the bench" + (" with a name long enough to wrap onto a second line" if i % 7 == 0 else "")


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory, tensors_npz: Path) -> Iterator[str]:
    root = tmp_path_factory.mktemp("many")
    spec = SurfaceSpec(
        model="tinycnn", dataset="tensors", data_root=str(tensors_npz), samples=8, x="-1:1:3", y="-1:1:3"
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        write_surface(root / "s000.h5", compute_surface(spec))
    finally:
        torch.set_num_threads(threads)
    for i in range(1, N):
        shutil.copyfile(root / "s000.h5", root / f"s{i:03d}.h5")
    entries = [{"id": f"s{i:03d}", "file": f"s{i:03d}.h5", "title": title(i), "tier": "cpu"} for i in range(N)]
    (root / "index.json").write_text(json.dumps({"entries": entries}))
    with running(server_settings(tmp_path_factory.mktemp("data"), root, tensors_npz)) as base:
        yield base


@pytest.fixture
def viewer(browser, many) -> Iterator[Viewer]:
    with viewer_on(browser, many, timeout_ms=60000) as v:
        yield v


def rows_in_view(viewer: Viewer, scroll: float | None = None) -> dict:
    """Scroll the list to ``scroll`` (a fraction of its range) and, two frames later, what it shows: the
    ids of the rows made, whether they cover the list's box, and how far the last row ends from its end."""
    if scroll is not None:
        viewer.page.evaluate(
            "(f) => { const l = document.getElementById('catalog'); l.scrollTop = f * (l.scrollHeight - l.clientHeight); }",
            scroll,
        )
    viewer.page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return viewer.page.evaluate(
        """() => {
            const l = document.getElementById('catalog'), box = l.getBoundingClientRect(), rows = [...l.children];
            const first = rows[0].getBoundingClientRect(), last = rows[rows.length - 1].getBoundingClientRect();
            return { ids: rows.map((e) => e.dataset.id), covered: first.top <= box.top + 1 && last.bottom >= box.bottom - 1,
                     end: l.scrollHeight - l.scrollTop - (last.bottom - box.top), height: l.clientHeight };
        }"""
    )


def test_a_long_catalog_makes_only_the_rows_it_shows(viewer):
    listed = [s["id"] for s in httpx.get(f"{viewer.base}/api/surfaces", timeout=60).json()["surfaces"]]
    assert len(listed) == N
    viewer.page.goto(f"{viewer.base}/?s=s001")
    viewer.wait_ready(60000)
    assert viewer.page.text_content("#catalog-count") == f"({N})"
    for scroll in (None, 0.3, 0.7, 0.5, 1.0):
        view = rows_in_view(viewer, scroll)
        made = view["ids"]
        assert len(made) < N / 4, f"{len(made)} rows made at {scroll}"
        start = listed.index(made[0])
        assert made == listed[start : start + len(made)], f"rows out of order or missing at {scroll}"
        assert view["covered"], f"a gap in the list's view at {scroll}: {view}"
    assert made[-1] == listed[-1] and abs(view["end"]) < 2, view  # the scroll bar ends at the last row
    viewer.page.click(f"#catalog li[data-id={listed[-1]}] input")
    viewer.wait_ready()
    assert viewer.state()["ids"] == ["s001", listed[-1]]
    assert viewer.page.is_checked(f"#catalog li[data-id={listed[-1]}] input")
    # The filter searches every surface, not the rows made.
    viewer.page.fill("#catalog-filter", "surface 29")
    expected = [s for s in listed if "surface 29" in title(int(s[1:])).lower()]
    assert len(expected) == 11
    viewer.page.wait_for_function("(n) => document.querySelectorAll('#catalog li').length === n", arg=len(expected))
    assert rows_in_view(viewer)["ids"] == expected
    assert viewer.page.text_content("#catalog-count") == f"({len(expected)} of {N})"
    viewer.page.fill("#catalog-filter", "resnet")
    assert viewer.page.inner_text("#catalog") == "No surface matches “resnet”."
    assert viewer.page.text_content("#catalog-count") == f"(0 of {N})"
    viewer.page.fill("#catalog-filter", "")
    view = rows_in_view(viewer, 0)
    assert view["ids"][0] == listed[0] and view["covered"] and viewer.page.text_content("#catalog-count") == f"({N})"
    assert viewer.errors == []


def test_the_focused_row_keeps_its_place_when_the_list_scrolls_away(viewer):
    """A keyboard user tabs into the list, scrolls it far away (the wheel, the scroll bar): the row with the
    focus stays made where it lies, so the focus stays in it, and Tab goes on to the next row."""
    listed = [s["id"] for s in httpx.get(f"{viewer.base}/api/surfaces", timeout=60).json()["surfaces"]]
    page = viewer.page
    page.goto(f"{viewer.base}/?s=s001")
    viewer.wait_ready(60000)
    focused = (
        "() => { const e = document.activeElement; return [e.closest('#catalog li')?.dataset.id ?? null, e.tagName]; }"
    )
    page.focus("#catalog-filter")
    for _ in range(5):  # two rows of two controls each, then the third row's checkbox
        page.keyboard.press("Tab")
    assert page.evaluate(focused) == [listed[2], "INPUT"]
    top = page.evaluate(f"() => document.querySelector('#catalog li[data-id={listed[2]}]').offsetTop")
    for scroll in (1.0, 0.5):
        view = rows_in_view(viewer, scroll)
        assert view["covered"]  # the rows in view are made, with no gap
        assert page.evaluate(focused) == [listed[2], "INPUT"]
        # the kept rows lie where they did, the rest at their own places (in order, the space between them)
        assert page.evaluate(f"() => document.querySelector('#catalog li[data-id={listed[2]}]').offsetTop") == top
        made = view["ids"]
        assert (
            made[:4] == [*listed[1:4], None]  # the row before and after it, then the space (no id)
            and made[4:] == listed[listed.index(made[4]) : listed.index(made[4]) + len(made) - 4]
        )
    page.keyboard.press("Space")  # still working the row: it ticks that surface
    viewer.wait_ready()
    assert viewer.state()["ids"] == ["s001", listed[2]]
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == [listed[3], "INPUT"]  # on to the next row, brought into view
    assert rows_in_view(viewer)["covered"]
    assert viewer.errors == []
