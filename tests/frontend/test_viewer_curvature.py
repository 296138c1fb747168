"""The viewer's eigenvalue maps (#13): |min_eig / max_eig| as a contour map, draped as colour over the 3-D
loss surface on a diverging scale with its colour bar, in the tooltip, and the centre's curvature summary
in the details panel. The surface is computed by the real engine (tinycnn, a 3 x 3 grid, 16 samples) and
served by the real server; every expected value is read back from its HDF5 file."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from frontend_support import VIEWPORT, Viewer, running, server_settings

from workers import SurfaceSpec, compute_surface, read_surface, write_surface

SID = "eig"
THRESHOLD = 0.1  # workers/stats.py RATIO: the diverging scale's centre


@pytest.fixture(scope="module")
def eig_gallery(tmp_path_factory: pytest.TempPathFactory, tensors_npz: Path) -> Path:
    root = tmp_path_factory.mktemp("eig-gallery")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = SurfaceSpec(
            model="tinycnn",
            dataset="tensors",
            data_root=str(tensors_npz),
            samples=16,
            batch_size=16,
            x="-1:1:3",
            y="-1:1:3",
            directions={"seed": 0},
            hessian={"max_steps": 40, "trace_samples": 4, "density_steps": 12, "top_k": 3},
        )
        write_surface(root / f"{SID}.h5", compute_surface(spec))
    finally:
        torch.set_num_threads(threads)
    (root / "index.json").write_text(
        json.dumps(
            {
                "entries": [
                    {
                        "id": SID,
                        "file": f"{SID}.h5",
                        "title": "TinyCNN eigenvalues",
                        "description": "eigenvalue maps",
                        "tier": "cpu",
                        "source": "tests",
                    },
                ]
            }
        )
    )
    return root


@pytest.fixture(scope="module")
def eig_surface(eig_gallery: Path):
    return read_surface(eig_gallery / f"{SID}.h5")


@pytest.fixture(scope="module")
def eig_server(tmp_path_factory: pytest.TempPathFactory, eig_gallery: Path, tensors_npz: Path) -> Iterator[str]:
    with running(server_settings(tmp_path_factory.mktemp("eig-data"), eig_gallery, tensors_npz)) as base:
        yield base


@pytest.fixture
def page(browser, eig_server: str) -> Iterator[Viewer]:
    context = browser.new_context(viewport=VIEWPORT)
    p = context.new_page()
    p.set_default_timeout(20000)
    v = Viewer(p, eig_server)
    yield v
    assert not v.errors, v.errors
    context.close()


def ratio_of(surface) -> np.ndarray:
    """|min/max| from the file's own eigenvalues (rows y, columns x)."""
    return np.abs(surface.metrics["min_eig"] / surface.metrics["max_eig"])


def close(text: str, value: float, rel: float = 1e-4) -> bool:
    return math.isclose(float(text), value, rel_tol=rel, abs_tol=1e-12)


def test_ratio_map_has_contours_in_the_files_range(page: Viewer, eig_surface) -> None:
    ratio = ratio_of(eig_surface)
    page.open(f"?s={SID}&m=eig_ratio&v=map")
    state = page.state()
    assert state["metric"] == "eig_ratio"
    assert state["z"]["data_min"] == pytest.approx(ratio.min(), rel=1e-4)
    assert state["z"]["data_max"] == pytest.approx(ratio.max(), rel=1e-4)
    contours = page.page.evaluate("() => window.__lossatlas.contours()")
    levels = [c["level"] for c in contours if c["lines"]]
    assert levels, "no contour line drawn on the ratio map"
    assert all(ratio.min() < level < ratio.max() for level in levels)
    at = page.screen(SID, 2, 0)
    page.page.mouse.move(at["x"], at["y"])
    page.page.wait_for_selector("#tooltip:not([hidden])")
    value = page.page.text_content("#tooltip [data-key=value] b")
    assert close(value, ratio[0, 2])


def test_ratio_draped_over_the_loss_with_a_diverging_colour_bar(page: Viewer, eig_surface) -> None:
    ratio = ratio_of(eig_surface)
    loss = eig_surface.metrics["train_loss"]
    page.open(f"?s={SID}&m=train_loss")
    assert page.page.is_visible("#color-by-label")
    plain = {
        (ix, iy): page.page.evaluate("([i, j]) => window.__lossatlas.vertexColor('eig', i, j)", [ix, iy])
        for ix in range(3)
        for iy in range(3)
    }
    page.page.select_option("#color-by", "eig_ratio")
    page.wait_ready()
    assert "cb=eig_ratio" in page.page.url
    drape = page.page.evaluate("() => window.__lossatlas.drape()")
    assert drape["cmap"] == "coolwarm"
    assert page.page.is_disabled("#cmap")  # the drape has its own map: greyed out, saying so
    assert "when colouring by height" in page.page.locator("#cmap").evaluate("(el) => el.closest('label').title")
    # Height is still the loss: the highest vertex is the largest loss.
    heights = {(ix, iy): page.vertex(SID, ix, iy)["height"] for ix in range(3) for iy in range(3)}
    assert max(heights, key=heights.get) == tuple(np.unravel_index(loss.argmax(), loss.shape)[::-1])
    # Colour is the ratio on a log scale centred on the threshold, symmetric, at least a decade each side.
    c = math.log10(THRESHOLD)
    half = max(1.0, c - math.log10(ratio.min()), math.log10(ratio.max()) - c)
    assert drape["d0"] == pytest.approx(c - half, rel=1e-5) and drape["d1"] == pytest.approx(c + half, rel=1e-5)
    tint = drape["tint"][SID]
    for iy in range(3):
        for ix in range(3):
            expected = 0.5 + (math.log10(ratio[iy, ix]) - c) / (2 * half)
            assert tint[iy * 3 + ix] == pytest.approx(expected, abs=1e-5)
    colors = {
        (ix, iy): page.page.evaluate("([i, j]) => window.__lossatlas.vertexColor('eig', i, j)", [ix, iy])
        for ix in range(3)
        for iy in range(3)
    }
    assert colors != plain
    # Each vertex wears the diverging map's colour at its tint (sRGB stops, linear in the colour buffer).
    srgb = page.page.evaluate(
        "(ts) => import('/static/colormap.js').then((m) => ts.map((t) => m.colorAt('coolwarm', t)))", tint
    )
    linear = lambda u: u / 12.92 if u <= 0.04045 else ((u + 0.055) / 1.055) ** 2.4  # noqa: E731
    for (ix, iy), col in colors.items():
        assert col == pytest.approx([linear(u) for u in srgb[iy * 3 + ix]], abs=2e-3)
    # The colour bar: the ratio's scale and its ticks (the threshold among them).
    assert page.page.is_visible("#colorbar")
    # Named in the words of the colour-by list (and the tooltip, the details).
    label = page.page.get_attribute("#colorbar canvas", "aria-label")
    assert label == "colour bar: |min_eig / max_eig|"
    assert page.page.locator("#color-by option[value=eig_ratio]").inner_text().startswith(label.split(": ")[1])
    assert any(t["value"] == pytest.approx(THRESHOLD) and t["t"] == pytest.approx(0.5) for t in drape["ticks"])
    # The link keeps the drape; back to height colours.
    page.open(f"?s={SID}&m=train_loss&cb=eig_ratio")
    assert page.page.evaluate("() => window.__lossatlas.drape()")["tint"][SID] == pytest.approx(tint)
    page.page.select_option("#color-by", "")
    page.wait_ready()
    assert page.page.evaluate("() => window.__lossatlas.drape()") is None and not page.page.is_disabled("#cmap")
    assert page.layer(SID)["draped"] is False
    page.open(f"?s={SID}&cb=nope")  # a bad link colours by height and says so
    state = page.state()
    assert any("unknown colour source" in n for n in state["notes"]) and not state["layers"][0]["draped"]


def test_tooltip_shows_loss_eigenvalues_and_ratio(page: Viewer, eig_surface) -> None:
    page.open(f"?s={SID}&m=train_loss&cb=eig_ratio")
    m = eig_surface.metrics
    # two grid points the pointer can reach from the default camera (others hide behind the surface)
    seen = [(ix, iy) for iy in (1, 2, 0, 3) for ix in (1, 0, 2, 3) if (page.screen(SID, ix, iy) or {}).get("visible")]
    assert len(seen) >= 2, seen
    for ix, iy in seen[:2]:
        rows = page.hover(SID, ix, iy)
        assert close(rows["value"], m["train_loss"][iy, ix])
        assert close(rows["min_eig"], m["min_eig"][iy, ix])
        assert close(rows["max_eig"], m["max_eig"][iy, ix])
        assert close(rows["eig_ratio"], abs(m["min_eig"][iy, ix] / m["max_eig"][iy, ix]))
    label = page.page.text_content("#tooltip [data-key=eig_ratio] span")
    assert label == "|min_eig / max_eig|"


def test_details_panel_shows_the_curvature_summary(page: Viewer, eig_surface) -> None:
    cur = eig_surface.attrs["curvature"]
    page.open(f"?s={SID}")
    top = page.page.text_content("#details .curvature [data-key=top] td")
    assert [float(v) for v in top.split(", ")] == pytest.approx(cur["top_eigenvalues"], rel=1e-3)
    trace = page.page.text_content("#details .curvature [data-key=trace] td")
    assert close(trace.split(" ± ")[0], cur["trace"], rel=1e-4)
    assert f"({cur['trace_samples']} probes)" in trace
    share = eig_surface.attrs["landscape_stats"]["hessian"]
    row = page.page.locator("#details tr", has_text="non-convex share (eigenvalues)").text_content()
    assert f"{100 * share['nonconvex_share']:.1f} % of {share['points']} points" in row
    # The SLQ density is drawn: one node count per run, and ink on the canvas.
    assert page.page.get_attribute("#details canvas.density-plot", "data-nodes") == str(
        sum(len(n) for n in cur["density_nodes"])
    )
    # drawn on the next frame (a new canvas is 300 px wide before it is drawn): wait for the ink
    page.page.wait_for_function(
        "() => { const c = document.querySelector('#details canvas.density-plot');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n > 200; }"
    )


def test_details_keys_leave_the_values_room(page: Viewer, eig_surface) -> None:
    """One long key ("non-convex share (eigenvalues)") on one line made the key column two thirds of the
    panel and wrapped every value into a sliver: keys now wrap, and every value gets over half a row."""
    page.open(f"?s={SID}")
    rows = page.page.evaluate(
        "() => [...document.querySelectorAll('#details table tr')].map((tr) => ({key: tr.cells[0].textContent,"
        " key_w: tr.cells[0].getBoundingClientRect().width, row_w: tr.getBoundingClientRect().width,"
        " key_cut: tr.cells[0].scrollWidth > tr.cells[0].clientWidth}))"
    )
    assert any(r["key"] == "non-convex share (eigenvalues)" for r in rows)
    for r in rows:
        assert r["key_w"] <= 0.5 * r["row_w"] and not r["key_cut"], r
