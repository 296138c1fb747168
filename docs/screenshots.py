"""Take the README's two screenshots again from the gallery: ``python docs/screenshots.py`` (a checkout with
``make setup`` done and Debian's chromium installed). It serves the gallery on a local port the system picks, opens the
viewer in chromium as the browser tests do and writes docs/screenshot.png (the paper's ResNet-56 pair at
51x51, log z) and docs/trajectory.png (a training path's contour map, a checkpoint hovered)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
VIEWPORT = {"width": 1400, "height": 860}
SHOTS = {  # file -> (viewer URL query, checkpoint of the path to hover or None)
    "screenshot.png": ("?s=resnet56-paper-full,resnet56_noshort-paper-full&log=1", None),
    "trajectory.png": ("?s=resnet20-path-bs128-cpu&v=map", ("resnet20-path-bs128-cpu", 2)),
}


def served_base(server: subprocess.Popen) -> str:
    """The address ``lossatlas serve --port 0`` names in its first line; the rest of its output goes on to
    ours (a pipe left unread would fill up)."""
    first = server.stderr.readline()
    found = re.match(r"^lossatlas: serving (http://\S+:[0-9]+)/ ", first)
    if not found:
        raise SystemExit(f"lossatlas serve did not start: {first}{server.stderr.read()}")
    threading.Thread(target=lambda: shutil.copyfileobj(server.stderr, sys.stderr), daemon=True).start()
    return found[1] + "/"


def main() -> None:
    chromium = shutil.which("chromium") or "/usr/lib/chromium/chromium"
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--no-worker", "--port", "0", "--data-dir", data],
            cwd=DOCS.parent,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            base = served_base(server)
            for _ in range(120):
                try:
                    urllib.request.urlopen(base + "api/config", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium, args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
                )
                page = browser.new_page(viewport=VIEWPORT)
                for name, (query, hover) in SHOTS.items():
                    page.goto(base + query)
                    page.wait_for_function("() => window.__lossatlas && window.__lossatlas.ready", timeout=60000)
                    if hover:
                        at = page.evaluate("([s, i]) => window.__lossatlas.checkpointScreen(s, i)", list(hover))
                        page.mouse.move(at["x"] - 30, at["y"] - 30)
                        page.mouse.move(at["x"], at["y"])
                        page.wait_for_function("() => window.__lossatlas.state().hover", timeout=10000)
                    page.screenshot(path=str(DOCS / name))
                    print(f"wrote docs/{name}")
                browser.close()
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
