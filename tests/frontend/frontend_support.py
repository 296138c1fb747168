"""Shared pieces of the viewer tests: the Chromium recipe, the test gallery's recipe and a Viewer that
drives one page through the page's test hook (window.__lossatlas)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from support import local_socket

CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 860}
BACKGROUND = (0x10, 0x14, 0x1B)  # scene.js BACKGROUND

# Gallery surfaces: id -> (title, spec fields). Small grids: every point costs a forward pass.
GALLERY: dict[str, tuple[str, dict]] = {
    "pair-a": ("TinyCNN with shortcuts", {"x": "-1:1:9", "y": "-1:1:9", "split": "both", "directions": {"seed": 0}}),
    "pair-b": ("TinyCNN without shortcuts", {"x": "-1:1:9", "y": "-1:1:9", "directions": {"seed": 1}}),
    "seed-2": ("TinyCNN seed 2", {"x": "-1:1:9", "y": "-1:1:9", "directions": {"seed": 2}}),
    "seed-3": ("TinyCNN seed 3", {"x": "-0.5:0.5:9", "y": "-0.5:0.5:9", "directions": {"seed": 3}}),
    "line": ("TinyCNN 1-D", {"x": "-1:1:15", "directions": {"seed": 4}}),
    # |x| = 5e13 and 1e14 overflow float32 activations: a real diverged (non-finite) loss.
    "diverged": ("TinyCNN diverged", {"x": "-1e14:1e14:5", "y": "-1:1:5", "directions": {"seed": 5}}),
    "grid51": ("TinyCNN 51 x 51", {"x": "-1:1:51", "y": "-1:1:51", "samples": 8, "directions": {"seed": 6}}),
    "partial": ("TinyCNN stopped early", {"x": "-1:1:9", "y": "-1:1:9", "directions": {"seed": 7}}),
}
PARTIAL_POINTS = 13  # the 3 x 3 subgrid (9 points) and 4 points of the next level


class Viewer:
    """A page of the viewer plus the console errors it logged and helpers to read its test hook."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text} {m.location}"))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def open(self, query: str = "") -> float:
        """Load the page and wait until the test hook says ready; returns the seconds it took."""
        t0 = time.perf_counter()
        self.page.goto(f"{self.base}/{query}")
        self.wait_ready()
        return time.perf_counter() - t0

    def wait_ready(self, timeout_ms: float = 20000) -> None:
        """Wait until the test hook says ready, then two frames more: what the page does on its next frame
        (a requested render, a resize it observed, a plot drawn then) is done before the test reads it."""
        self.page.wait_for_function("() => window.__lossatlas && window.__lossatlas.ready", timeout=timeout_ms)
        self.page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")

    def state(self) -> dict:
        return self.page.evaluate("() => window.__lossatlas.state()")

    def layer(self, sid: str) -> dict:
        return next(layer for layer in self.state()["layers"] if layer["id"] == sid)

    def vertex(self, sid: str, ix: int, iy: int) -> dict | None:
        return self.page.evaluate("([s, i, j]) => window.__lossatlas.vertex(s, i, j)", [sid, ix, iy])

    def screen(self, sid: str, ix: int, iy: int) -> dict | None:
        return self.page.evaluate("([s, i, j]) => window.__lossatlas.vertexScreen(s, i, j)", [sid, ix, iy])

    def hover(self, sid: str, ix: int, iy: int) -> dict[str, str]:
        """Move the mouse onto grid point (ix, iy) of surface ``sid``; the tooltip's rows by data-key."""
        at = self.screen(sid, ix, iy)
        assert at is not None, f"{sid} ({ix}, {iy}) is not drawn"
        assert at.get("visible", True), f"{sid} ({ix}, {iy}) is hidden behind another part of a surface"
        self.page.mouse.move(at["x"] - 3, at["y"] - 3)
        self.page.mouse.move(at["x"], at["y"])
        self.page.wait_for_selector("#tooltip:not([hidden])")
        expected = f"ix {ix}, iy {iy}" if self.layer(sid)["ndim"] == 2 else f"ix {ix}"
        with contextlib.suppress(Exception):  # the assertion below shows what the tooltip says instead
            self.page.wait_for_function(
                "(t) => document.querySelector('#tooltip [data-key=index] b')?.textContent === t",
                arg=expected,
                timeout=5000,
            )
        rows = self.page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('#tooltip [data-key]')].map("
            "(e) => [e.dataset.key, e.querySelector('b') ? e.querySelector('b').textContent : e.textContent]))"
        )
        assert rows.get("index") == expected, f"hovering {sid} ({ix}, {iy}) shows {rows}"
        return rows

    def open_job_form(self, weights: str | None = None):
        """Open "New surface"; with ``weights``, wait until the weights select offers that value (the list
        arrives from GET /api/checkpoints after the page is ready) and return its option."""
        self.page.click("#job-section summary")
        if weights is None:
            return None
        option = self.page.locator(f"select[name=weights] option[value='{weights}']")
        option.wait_for(state="attached")
        return option

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self.wait_ready()


@contextmanager
def viewer_on(browser, base: str, timeout_ms: float = 20000, **context) -> Iterator[Viewer]:
    """A :class:`Viewer` in a browser context of its own (the desktop viewport, ``context``'s other options),
    closed at exit."""
    opened = browser.new_context(viewport=VIEWPORT, **context)
    try:
        page = opened.new_page()
        page.set_default_timeout(timeout_ms)
        yield Viewer(page, base)
    finally:
        opened.close()


@contextmanager
def running(settings, graceful_s: float | None = None) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on a free local port; yields the base URL.
    ``graceful_s``: at exit, close open connections (event streams) after that many seconds."""
    from server.app import create_app

    sock = local_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=graceful_s
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/api/config", timeout=2).raise_for_status()
            break
        except (httpx.HTTPError, OSError):
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)
    try:
        yield base
    finally:
        uv.should_exit = True
        thread.join(30)
        sock.close()


def server_settings(data_dir: Path, gallery: Path, tensors_npz: Path, **overrides):
    from server.settings import DatasetSource, Settings

    return Settings(
        data_dir=data_dir,
        gallery_dir=gallery,
        datasets={"tiny": DatasetSource(kind="tensors", root=tensors_npz)},
        models=["tinycnn"],
        poll_s=0.2,
        worker_threads=1,
        **overrides,
    )
