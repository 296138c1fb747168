"""GET /api/checkpoints and jobs on the gallery's trained weights, against a real server and worker."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from serverkit import Processes, ThreadServer, direct_surface, job_request, make_settings
from support import wait_for

from server.schemas import CheckpointList
from workers import read_surface
from workers.checkpoints import load_model

SURFACE = {"samples": 10, "x": "-1:1:3"}


def _weights(path: Path, seed: int, model: str = "tinycnn") -> str:
    """Weights that differ from the zoo's seeded initialisation; returns their sha256."""
    torch.manual_seed(seed)
    net = load_model(model, None)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry(id: str, model: str = "tinycnn", **fields) -> dict:
    return {
        "id": id,
        "title": f"Title of {id}",
        "description": "",
        "tier": "cpu",
        "model": model,
        "dataset": "cifar10",
        "surface": SURFACE,
        **fields,
    }


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A gallery: two trained checkpoints on disk (one with an index line), an external one, a duplicate of
    it, one with a wrong sha256, one trained entry whose file is missing, and one of a model not allowed."""
    root = tmp_path_factory.mktemp("gal")
    gal = root / "gallery"
    sha = {
        "tiny-a": _weights(gal / "checkpoints" / "tiny-a.pt", 1),
        "tiny-b": _weights(gal / "checkpoints" / "tiny-b.pt", 2),
        "ext": _weights(root / "paper.pt", 3),
        "other": _weights(gal / "checkpoints" / "other.pt", 4, "resnet20"),
    }
    train = {"epochs": 1}
    external = {"path": str(root / "paper.pt"), "sha256": sha["ext"], "source": "a paper's checkpoint"}
    entries = [
        _entry("tiny-a", training=train),
        _entry("tiny-b", training=train),
        _entry("ext", checkpoint=external),
        _entry("ext-again", checkpoint=external),
        _entry("ext-wrong", checkpoint={**external, "sha256": "0" * 64}),
        _entry("tiny-missing", training=train),
        _entry("other", model="resnet20", training=train),
    ]
    (gal / "manifest.json").write_text(json.dumps({"version": 1, "entries": entries}))
    (gal / "index.json").write_text(
        json.dumps(
            {
                "entries": [
                    {
                        "id": "tiny-a",
                        "file": "tiny-a.h5",
                        "title": "A",
                        "test_acc": 42.5,
                        "source": "trained for a test",
                    }
                ]
            }
        )
    )
    return {"root": root, "sha": sha}


@pytest.fixture(scope="module")
def server(gallery: dict, tiny_npz: Path) -> Iterator[ThreadServer]:
    procs = Processes()
    settings = make_settings(gallery["root"] / "data", tiny_npz, models=["tinycnn", "tinycnn_mnist"])
    with ThreadServer(settings) as s:
        procs.worker(settings.data_dir, worker_id="w-gallery")
        yield s
    procs.kill_all()


def test_the_list_names_the_gallery_checkpoints_on_disk_and_the_uploads(
    server: ThreadServer, gallery: dict, tmp_path: Path
):
    sha = gallery["sha"]
    with server.client() as c:
        r = c.get("/api/checkpoints")
        assert r.status_code == 200, r.text
        listed = CheckpointList.model_validate(r.json())
        assert listed.uploaded == []
        assert (
            [g.model_dump() for g in listed.gallery]
            == [
                {
                    "id": "tiny-a",
                    "model": "tinycnn",
                    "sha256": sha["tiny-a"],
                    "title": "Title of tiny-a",
                    "source": "trained for a test",
                    "test_acc": 42.5,
                },
                {
                    "id": "tiny-b",
                    "model": "tinycnn",
                    "sha256": sha["tiny-b"],
                    "title": "Title of tiny-b",
                    "source": "trained by lossatlas",
                    "test_acc": None,
                },
                {
                    "id": "ext",
                    "model": "tinycnn",
                    "sha256": sha["ext"],
                    "title": "Title of ext",
                    "source": "a paper's checkpoint",
                    "test_acc": None,
                },
            ]
        )  # ext-again: the same file; ext-wrong: not the manifest's sha256; tiny-missing: no file; other: model not served
        up = c.post(
            "/api/checkpoints",
            files={"file": ("mine.pt", (gallery["root"] / "paper.pt").read_bytes())},
            data={"model": "tinycnn"},
        )
        assert up.status_code == 201, up.text
        uploaded = CheckpointList.model_validate(c.get("/api/checkpoints").json()).uploaded
        assert [u.model_dump() for u in uploaded] == [
            {"id": sha["ext"][:16], "sha256": sha["ext"], "model": "tinycnn", "name": "mine.pt"}
        ]
        assert "/api/checkpoints" in c.get("/openapi.json").json()["paths"]


def test_a_job_on_a_gallery_checkpoint_equals_the_engine_on_that_file(
    server: ThreadServer, gallery: dict, tiny_npz: Path, tmp_path: Path
):
    with server.client() as c:
        r = c.post(
            "/api/jobs", json=job_request(gallery_checkpoint="tiny-b", x="-0.5:0.5:3", y="-0.5:0.5:3", samples=100)
        )
        assert r.status_code == 202, r.text
        job = r.json()
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["state"] == "done", 120, 0.2, "the job to finish")
        path = tmp_path / "got.h5"
        path.write_bytes(c.get(f"/api/surfaces/{job['surface_id']}/file").content)
    got = read_surface(path)
    expected = direct_surface(
        job_request(
            checkpoint=str(gallery["root"] / "gallery" / "checkpoints" / "tiny-b.pt"),
            x="-0.5:0.5:3",
            y="-0.5:0.5:3",
            samples=100,
        ),
        tiny_npz,
    )
    assert got.recipe["checkpoint_sha256"] == gallery["sha"]["tiny-b"] == expected.recipe["checkpoint_sha256"]
    for name, values in expected.metrics.items():
        np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)
        assert got.metrics[name][1, 1] == values[1, 1]  # the centre: the gallery's weights themselves


@pytest.mark.parametrize(
    "change, status, detail",
    [
        (
            {"gallery_checkpoint": "tiny-missing"},
            404,
            "no gallery checkpoint 'tiny-missing'; choose one of GET /api/checkpoints: tiny-a, tiny-b, ext",
        ),
        (
            {"gallery_checkpoint": "ext-wrong"},
            404,
            "no gallery checkpoint 'ext-wrong'; choose one of GET /api/checkpoints: tiny-a, tiny-b, ext",
        ),
        (
            {"gallery_checkpoint": "tiny-a", "model": "tinycnn_mnist"},
            422,
            "gallery checkpoint tiny-a holds weights of 'tinycnn', not 'tinycnn_mnist'",
        ),
        (
            {"gallery_checkpoint": "../paper.pt"},
            422,
            "gallery_checkpoint: String should match pattern '^[a-z0-9][a-z0-9._-]*$'",
        ),
        (
            {"gallery_checkpoint": "tiny-a", "checkpoint_id": "0123456789abcdef"},
            422,
            "give checkpoint_id or gallery_checkpoint, not both",
        ),
    ],
)
def test_gallery_checkpoint_requests_refused(server: ThreadServer, change: dict, status: int, detail: str):
    with server.client() as c:
        before = c.get("/api/jobs").json()
        r = c.post("/api/jobs", json=job_request(**change))
        assert (r.status_code, r.json()) == (status, {"detail": detail})
        assert c.get("/api/jobs").json() == before
