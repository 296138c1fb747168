"""Payload and speed of the viewer (issue 4): a 51 x 51 mesh under 100 KB on the wire, and six overlaid
surfaces drawn in headless Chromium. The figures are printed (pytest -s); the time is not asserted."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow

SIX = ["grid51", "pair-a", "pair-b", "seed-2", "seed-3", "diverged"]


def test_51x51_mesh_is_under_100_kb_on_the_wire(server):
    with httpx.stream("GET", f"{server['base']}/api/surfaces/grid51", headers={"Accept-Encoding": "gzip"}) as r:
        r.raise_for_status()
        wire = sum(len(chunk) for chunk in r.iter_raw())
        assert r.headers["content-encoding"] == "gzip"
    mesh = httpx.get(f"{server['base']}/api/surfaces/grid51").json()
    assert len(mesh["x"]) == len(mesh["y"]) == 51
    print(f"\n51x51 mesh: {wire / 1024:.1f} KiB gzipped on the wire")
    assert wire < 100 * 1024


def test_six_overlaid_surfaces_become_ready_quickly(viewer):
    viewer.open("?s=pair-a")  # warm: browser caches and the server's mesh cache are not what is measured
    seconds = viewer.open("?s=" + ",".join(SIX))
    state = viewer.state()
    assert [layer["id"] for layer in state["layers"]] == SIX
    # printed, not asserted: a shared CI machine's load sets the figure (bench/ measures speed as ratios)
    print(f"\nsix overlaid surfaces ready in {seconds:.2f} s (navigation to ready, headless Chromium, SwiftShader)")
    assert viewer.errors == []
