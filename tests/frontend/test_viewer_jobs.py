"""The request form: a job started from the page, its surface drawn coarse and refined as the worker's
points arrive over server-sent events, and equal to the file the worker wrote when it is done."""

from __future__ import annotations

import math
import time
from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pytest
from frontend_support import VIEWPORT, Viewer, running, server_settings

from workers import read_surface

pytestmark = pytest.mark.slow
TOKEN = "lossatlas-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory, gallery, tensors_npz):
    """This module's own server with a worker (overriding conftest's, which ``viewer`` then uses): the
    surface computed here stays out of the shared server's catalog, which other tests list whole."""
    settings = server_settings(tmp_path_factory.mktemp("jobdata"), gallery, tensors_npz)
    with running(settings) as base:
        yield {"base": base, "settings": settings}


def test_request_form_starts_a_job_and_the_surface_refines(viewer, server):
    viewer.open("?s=pair-a")
    page = viewer.page
    viewer.open_job_form()
    models = page.eval_on_selector_all("select[name=model] option", "(els) => els.map((e) => e.value)")
    datasets = page.eval_on_selector_all("select[name=dataset] option", "(els) => els.map((e) => e.value)")
    assert models == ["tinycnn"] and datasets == ["tiny"]  # from /api/config
    assert page.locator("input[name=token]").count() == 0  # the server requires no token
    page.fill("input[name=name]", "refining tiny")
    page.fill("input[name=samples]", "16")
    # 225 points: long enough, on an idle machine too, for the page to be seen between its first and last point
    page.fill("input[name=x]", "-1:1:15")
    page.fill("input[name=y]", "-0.5:0.5:15")
    page.fill("input[name=seed]", "11")
    page.click("button[type=submit]")

    seen = []  # (points_done, drawn_vertices, coarse_level) of the job's surface as the page drew it
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = viewer.state()
        jobs = page.eval_on_selector_all("#jobs li", "(els) => els.map((e) => e.dataset.state)")
        layer = next((lay for lay in state["layers"] if lay["id"] not in ("pair-a",)), None)
        if layer:
            seen.append((layer["points_done"], layer["drawn_vertices"], layer["coarse_level"]))
        if jobs == ["done"] and layer and layer["points_done"] == 225:
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail(f"the job did not finish on the page; seen {seen[-5:]}")
    viewer.wait_ready()
    sid = layer["id"]
    assert viewer.state()["ids"] == [sid]
    partial = [s for s in seen if 0 < s[0] < 225]
    assert len({s[0] for s in partial}) >= 2, f"the surface did not grow in steps: {seen}"
    # Coarse first: while points were missing the whole grid was drawn from a complete coarse level.
    assert any(s[1] == 225 and s[2] is not None for s in partial), seen
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)

    surface = read_surface(server["settings"].data_dir / "surfaces" / f"{sid}.h5")
    assert surface.is_complete
    # the first grid vertex of the front rows that the camera sees (a steep fine grid hides some behind others)
    ix, iy = next((i, j) for j in range(15) for i in range(15) if (viewer.screen(sid, i, j) or {}).get("visible", True))
    rows = viewer.hover(sid, ix, iy)
    assert math.isclose(float(rows["value"]), surface.metrics["train_loss"][iy, ix], rel_tol=2e-5)
    assert math.isclose(float(rows["y"]), surface.ycoordinates[iy], rel_tol=1e-9, abs_tol=1e-12)
    assert rows["surface"] == "refining tiny"
    assert page.locator("#jobs li[data-state=done]").inner_text().count("225 / 225") == 1
    assert viewer.errors == []
    assert np.isfinite(surface.metrics["train_loss"]).all()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory, gallery, tensors_npz):
    """A server that requires a bearer token for writes (no worker: jobs only queue)."""
    settings = server_settings(
        tmp_path_factory.mktemp("tokendata"), gallery, tensors_npz, token=TOKEN, embedded_worker=False
    )
    with running(settings) as base:
        yield base


def test_token_field_and_refused_requests_show_the_servers_message(browser, token_server):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = Viewer(context.new_page(), token_server)
        viewer.open("?s=pair-a")
        page = viewer.page
        viewer.open_job_form()
        token = page.locator("input[name=token]")
        assert token.is_visible()  # /api/config says auth_required
        page.fill("input[name=x]", "-1:1:5")
        page.fill("input[name=y]", "")
        token.fill("wrong-token-123")
        page.click("button[type=submit]")
        banner = page.locator("#error")
        banner.wait_for(state="visible")
        assert banner.inner_text().startswith("Not computed: ") and "bearer token" in banner.inner_text()
        assert page.locator("#jobs li").count() == 0
        token.fill(TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector("#jobs li[data-state=queued]")
        assert banner.is_hidden()
        assert viewer.state()["errors"][-1].startswith("Not computed: ")
        # A grid over the server's limit: the server's reason, not "POST /api/jobs failed (422)".
        page.fill("input[name=x]", "-1:1:200")
        page.fill("input[name=y]", "-1:1:200")
        page.click("button[type=submit]")
        banner.wait_for(state="visible")
        assert banner.inner_text().startswith("Not computed: the grid has 40000 points"), banner.inner_text()
    finally:
        context.close()


def test_a_waiting_job_is_named_followed_after_reload_and_not_running_once_the_server_is_gone(
    browser, tmp_path_factory, gallery, tensors_npz
):
    """No worker: the job stays queued. Its title (not its id) is shown with what it waits for; a reload
    keeps following it; when the server goes away the page stops showing it as queued or running."""
    settings = server_settings(tmp_path_factory.mktemp("lostdata"), gallery, tensors_npz, embedded_worker=False)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        with running(settings, graceful_s=1) as base:
            viewer = Viewer(context.new_page(), base)
            viewer.open("?s=pair-a")
            page = viewer.page
            viewer.open_job_form()
            page.fill("input[name=x]", "-1:1:5")
            page.fill("input[name=y]", "")
            page.click("button[type=submit]")
            job = page.locator("#jobs li[data-state=queued]")
            job.wait_for()
            title = "tinycnn, untrained (random init), tiny"
            assert job.locator(".job-head .link").inner_text() == title
            assert "waiting for a worker" in job.inner_text()
            job_id = job.get_attribute("data-id")
            head = page.locator("#title").inner_text()
            assert title in head and "waiting for the first points" in head and "null" not in head
            details = page.locator("#details").inner_text()  # it said "Pick a surface on the left."
            assert details == f"Waiting for the first points of “{title}”: how it is computed shows here then."
            assert parse_qs(urlparse(page.url).query)["job"] == [job_id]
            assert httpx.get(f"{base}/api/jobs/{job_id}").json()["request"]["name"] == title  # the surface's title

            page.reload()
            viewer.wait_ready()
            page.wait_for_selector(f"#jobs li[data-id='{job_id}'][data-state=queued]")
            assert title in page.locator("#title").inner_text()
            assert parse_qs(urlparse(page.url).query)["job"] == [job_id]
        # The server is gone.
        page.wait_for_selector(f"#jobs li[data-id='{job_id}'][data-state=lost]", timeout=20000)
        assert "unreachable" in page.locator(f"#jobs li[data-id='{job_id}']").inner_text()
        assert "Lost contact with the server" in page.locator("#status").inner_text()
    finally:
        context.close()


def test_trained_weights_from_a_checkpoint_file(browser, tmp_path, tmp_path_factory, gallery, tensors_npz):
    """The form uploads a state dict (POST /api/checkpoints) and asks for the surface of those weights;
    the job's title names the checkpoint instead of saying "untrained"."""
    import hashlib

    import torch

    from workers.zoo import create_model

    weights = tmp_path / "tiny.pt"
    torch.save(create_model("tinycnn").state_dict(), weights)
    checkpoint_id = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    settings = server_settings(tmp_path_factory.mktemp("ckptdata"), gallery, tensors_npz, embedded_worker=False)
    with running(settings) as base:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            viewer = Viewer(context.new_page(), base)
            viewer.open("?s=pair-a")
            page = viewer.page
            viewer.open_job_form()
            page.select_option("select[name=weights]", "upload")
            page.fill("input[name=x]", "-1:1:5")
            page.fill("input[name=y]", "")
            page.click("button[type=submit]")  # no file chosen yet: refused with a message, nothing queued
            assert "choose a checkpoint file" in page.locator("#error").inner_text()
            assert page.locator("#jobs li").count() == 0
            page.set_input_files("input[name=checkpoint]", str(weights))
            page.click("button[type=submit]")
            job = page.locator("#jobs li[data-state=queued]")
            job.wait_for()
            request = httpx.get(f"{base}/api/jobs/{job.get_attribute('data-id')}").json()["request"]
            assert request["checkpoint_id"] == checkpoint_id
            assert request["name"] == f"tinycnn, checkpoint {checkpoint_id[:8]}, tiny"
            assert job.locator(".job-head .link").inner_text() == request["name"]
        finally:
            context.close()


def test_trained_weights_from_the_gallery(browser, tmp_path, tmp_path_factory, gallery, tensors_npz):
    """The weights select lists the gallery's checkpoints of the chosen model (GET /api/checkpoints); the
    job asks for one by its gallery id and its title names it."""
    import json
    import shutil

    import torch

    from workers.zoo import create_model

    shelf = tmp_path / "precomputed"
    shutil.copytree(gallery, shelf)
    (shelf / "checkpoints").mkdir()
    torch.save(create_model("tinycnn").state_dict(), shelf / "checkpoints" / "tiny-trained.pt")
    entry = {
        "id": "tiny-trained",
        "title": "Tiny CNN, trained",
        "description": "",
        "tier": "cpu",
        "model": "tinycnn",
        "dataset": "cifar10",
        "training": {"epochs": 1},
        "surface": {"samples": 8, "x": "-1:1:3"},
    }
    (shelf / "manifest.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    settings = server_settings(tmp_path_factory.mktemp("gallerydata"), shelf, tensors_npz, embedded_worker=False)
    with running(settings) as base:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            viewer = Viewer(context.new_page(), base)
            viewer.open("?s=pair-a")
            page = viewer.page
            option = viewer.open_job_form(weights="gallery:tiny-trained")
            assert option.inner_text() == "Tiny CNN, trained"
            labels = page.locator("select[name=weights] option").all_inner_texts()
            assert labels == ["random initialization (untrained)", "Tiny CNN, trained", "upload…"]
            page.select_option("select[name=weights]", "gallery:tiny-trained")
            assert page.locator(".checkpoint-file").is_hidden()
            page.fill("input[name=x]", "-1:1:5")
            page.fill("input[name=y]", "")
            page.click("button[type=submit]")
            job = page.locator("#jobs li[data-state=queued]")
            job.wait_for()
            request = httpx.get(f"{base}/api/jobs/{job.get_attribute('data-id')}").json()["request"]
            assert request["gallery_checkpoint"] == "tiny-trained" and request["checkpoint_id"] is None
            assert request["name"] == "tinycnn, gallery weights tiny-trained, tiny"
            link = job.locator(".job-head .link")
            assert link.inner_text() == request["name"] == link.get_attribute("title")
            # The row fits the panel (a long name is cut short with an ellipsis): its state and the
            # cancel button stay in view.
            panel = page.locator("#left-panel").bounding_box()
            for part in (".state", ".remove", "progress"):
                box = job.locator(part).bounding_box()
                assert box["x"] + box["width"] <= panel["x"] + panel["width"], part
        finally:
            context.close()


def submit(page, name: str, seed: int, token: str = TOKEN) -> None:
    """Fill the form with a small 1-D request (seeds from 23: no other test asks for them) and send it."""
    page.fill("input[name=name]", name)
    page.fill("input[name=x]", "-1:1:3")
    page.fill("input[name=y]", "")
    page.fill("input[name=seed]", str(seed))
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def test_asking_again_for_a_surface_says_it_was_asked_for_before(browser, token_server):
    """The server answers an identical request with the earlier job (200): the page said nothing, and
    showed the earlier name where the user had typed another. The status line now says so."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = Viewer(context.new_page(), token_server)
        viewer.open("?s=pair-a")
        page = viewer.page
        viewer.open_job_form()
        submit(page, "first ask", 23)
        page.wait_for_selector("#jobs li[data-state=queued]")
        assert not page.locator("#status").inner_text().startswith("The same surface")
        submit(page, "second ask", 23)
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('The same surface')")
        assert page.locator("#status").inner_text() == (
            "The same surface was asked for before, as “first ask” (queued): showing it"
        )
        assert page.locator("#jobs li").count() == 1
        assert "first ask" in page.locator("#title").inner_text()
        assert viewer.errors == []
    finally:
        context.close()


def test_on_a_phone_the_drawer_closes_to_show_the_surface_asked_for(browser, token_server):
    """On a phone the form lies in a drawer over the view: after a request the drawer stayed open over the
    surface being computed. It closes once the server took the request (not when it refused it)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        viewer = Viewer(context.new_page(), token_server)
        viewer.open("?s=pair-a")
        page = viewer.page
        page.tap("#toggle-left")
        viewer.open_job_form()
        submit(page, "phone ask", 29, token="wrong-token-123")
        page.locator("#error").wait_for(state="visible")
        assert page.locator("#left-panel").is_visible()  # refused: the form stays, with its values
        submit(page, "phone ask", 29)
        page.wait_for_function("() => !document.body.classList.contains('show-left')")
        assert page.locator("#left-panel").is_hidden()
        assert page.locator("#toggle-left").get_attribute("aria-expanded") == "false"
        assert "phone ask" in page.locator("#title").inner_text()
        assert [e for e in viewer.errors if "status of 401" not in e] == []  # the browser logs the refusal
    finally:
        context.close()
