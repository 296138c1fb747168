"""Fixtures of the viewer tests: a small gallery computed by the engine, the real server (uvicorn on a
free port, SQLite and an embedded worker process in a temporary data dir) and Debian's Chromium driven
by Python playwright exactly as DESIGN.md section 5 says (SwiftShader WebGL, never `playwright install`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from frontend_support import (
    CHROMIUM_ARGS,
    GALLERY,
    PARTIAL_POINTS,
    Viewer,
    running,
    server_settings,
    viewer_on,
)
from support import write_tensors_npz

from workers import SurfaceSpec, compute_surface, read_surface, write_surface


@pytest.fixture(scope="session")
def tensors_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ``tensors`` dataset: 3x8x8 inputs, 32 train and 16 test samples."""
    return write_tensors_npz(tmp_path_factory.mktemp("data") / "tiny.npz", train=32, test=16, seed=3)


@pytest.fixture(scope="session")
def gallery(tmp_path_factory: pytest.TempPathFactory, tensors_npz: Path) -> Path:
    """A precomputed/ directory: the surfaces above (computed in memory, written once) and index.json
    pairing pair-a (shortcuts) with pair-b (none), as the real gallery pairs ResNet-56 with its no-short."""
    root = tmp_path_factory.mktemp("precomputed")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: threads only contend on this shared 2-core machine (20x slower)
    try:
        for sid, (_, fields) in GALLERY.items():
            spec = SurfaceSpec(model="tinycnn", dataset="tensors", data_root=str(tensors_npz), batch_size=64, **fields)
            done = []  # "partial" stops as an interrupted job would, after PARTIAL_POINTS points
            stop = (lambda done=done: len(done) >= PARTIAL_POINTS) if sid == "partial" else None
            write_surface(root / f"{sid}.h5", compute_surface(spec, progress=done.append, should_stop=stop))
    finally:
        torch.set_num_threads(threads)
    entries = [
        {
            "id": sid,
            "file": f"{sid}.h5",
            "title": title,
            "description": f"test surface {sid}",
            "tier": "cpu",
            "source": "tests",
        }
        for sid, (title, _) in GALLERY.items()
    ]
    entries[0].update(pair="pair-b", shortcuts=True, epochs=3, test_acc=12.5)
    entries[1].update(pair="pair-a", shortcuts=False, epochs=3, test_acc=11.0)
    (root / "index.json").write_text(json.dumps({"entries": entries}))
    return root


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, gallery: Path, tensors_npz: Path) -> Iterator[dict]:
    """The real app (server.app.create_app) under uvicorn with its embedded worker process; yields its
    base URL and settings."""
    settings = server_settings(tmp_path_factory.mktemp("datadir"), gallery, tensors_npz)
    with running(settings) as base:
        yield {"base": base, "settings": settings}


def chromium_path() -> str | None:
    path = "/usr/lib/chromium/chromium"
    return path if os.path.exists(path) else shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: `make test` installs it with apt-get install -y chromium")
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium; `make test` does it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def viewer(browser, server) -> Iterator[Viewer]:
    with viewer_on(browser, server["base"], accept_downloads=True) as v:
        yield v


@pytest.fixture(scope="session")
def surfaces(gallery: Path) -> dict:
    """The gallery files as the engine reads them: the independent source of every expected value."""
    return {sid: read_surface(gallery / f"{sid}.h5") for sid in GALLERY}
