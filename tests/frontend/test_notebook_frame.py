"""``show()`` in a notebook (#16): the cell's iframe loads the real viewer, which draws the surfaces given
(a Surface object and a file, overlaid on a log scale) with no console error."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_support import VIEWPORT

from server import notebook
from workers.h5io import Surface, write_surface


def bowl(scale: float) -> Surface:
    xs = np.linspace(-1, 1, 7)
    X, Y = np.meshgrid(xs, xs)
    return Surface(
        xs,
        xs,
        {"train_loss": scale * (0.1 + X**2 + Y**2)},
        np.ones((7, 7), dtype=bool),
        {"spec": {"model": f"bowl{scale:g}"}},
    )


@pytest.fixture
def cell(browser, tmp_path):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(20000)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    yield page, errors
    context.close()
    notebook.stop()


def test_the_notebook_iframe_draws_the_shown_surfaces(cell, tmp_path):
    page, errors = cell
    write_surface(tmp_path / "b.h5", bowl(3))
    shown = notebook.show(bowl(1), tmp_path / "b.h5", log=True, height=500)
    page.set_content(f"<html><body><p>a notebook cell</p>{shown._repr_html_()}</body></html>")
    frame = page.wait_for_selector("iframe").content_frame()
    frame.wait_for_function("() => window.__lossatlas && window.__lossatlas.ready")
    state = frame.evaluate("() => window.__lossatlas.state()")
    ids = shown.url.split("s=")[1].split("&")[0].split(",")
    assert state["ids"] == ids and [layer["id"] for layer in state["layers"]] == ids
    assert state["metric"] == "train_loss" and state["z"]["scale"] == "log" and not state["errors"]
    # one z scale over both: the smallest value of the first bowl, the largest of the steeper one
    assert state["z"]["data_min"] == pytest.approx(0.1) and state["z"]["data_max"] == pytest.approx(3 * 2.1)
    assert not errors
