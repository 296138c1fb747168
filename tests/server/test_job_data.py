"""A job's data: more samples than a split holds are refused at submission where the dataset's split sizes
are known (the standard datasets), by the worker once it has read the data otherwise; data that does not
fit the model fails the job in words an API user can act on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from serverkit import ThreadServer, job_request, make_settings

from server.settings import DatasetSource

# the datasets' published sizes (torchvision's documentation), not read from the engine's table
PUBLISHED = {"cifar10": (50000, 10000), "cifar10-jpeg": (50000, 10000), "mnist": (60000, 10000)}


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    """Datasets of each kind under names of the server's own; their roots exist but hold nothing (a
    refusal at submission reads no data). No worker: accepted jobs stay queued."""
    root = tmp_path_factory.mktemp("sized")
    empty = root / "empty"
    empty.mkdir()
    (root / "bare" / "train").mkdir(parents=True)  # an image folder's split without a class folder
    (root / "later").mkdir()  # an image folder removed once a job is queued
    rng = np.random.default_rng(0)
    for name, shape in (("rgb32", (32, 32, 3)), ("gray28", (28, 28, 1))):  # the standard datasets' shapes
        x = rng.integers(0, 256, (20, *shape), dtype=np.uint8)
        np.savez(root / f"{name}.npz", x=x, y=rng.integers(0, 10, 20))
    datasets = {
        "tiny": DatasetSource(kind="tensors", root=tiny_npz),
        "rgb32": DatasetSource(kind="tensors", root=root / "rgb32.npz"),
        "gray28": DatasetSource(kind="tensors", root=root / "gray28.npz"),
        "cifar": DatasetSource(kind="cifar10", root=empty),
        "jpegs": DatasetSource(kind="cifar10-jpeg", root=empty),
        "digits": DatasetSource(kind="mnist", root=empty),
        "clothes": DatasetSource(kind="fashion-mnist", root=empty),
        "folder": DatasetSource(kind="imagefolder", root=empty),
        "bare": DatasetSource(kind="imagefolder", root=root / "bare"),
        "zipped": DatasetSource(kind="imagefolder", root=root / "rgb32.npz"),  # a zip, not a tar archive
        "later": DatasetSource(kind="imagefolder", root=root / "later"),
    }
    settings = make_settings(root / "data", tiny_npz, max_samples=100_000, max_queued_jobs=50, datasets=datasets)
    with ThreadServer(settings) as server:
        yield server


@pytest.mark.parametrize(
    "dataset, split, samples, detail",
    [
        ("digits", "train", 60_001, "asked for 60001 samples but the digits train split has only 60000"),
        ("digits", "test", 10_001, "asked for 10001 samples but the digits test split has only 10000"),
        ("clothes", "train", 60_001, "asked for 60001 samples but the clothes train split has only 60000"),
        ("cifar", "train", 50_001, "asked for 50001 samples but the cifar train split has only 50000"),
        ("jpegs", "test", 10_001, "asked for 10001 samples but the jpegs test split has only 10000"),
        ("jpegs", "both", 20_000, "asked for 20000 samples but the jpegs test split has only 10000"),
    ],
)
def test_more_samples_than_a_known_split_holds_is_refused_at_submission(
    sized: ThreadServer, dataset: str, split: str, samples: int, detail: str
):
    with sized.client() as c:
        before = c.get("/api/jobs").json()
        r = c.post("/api/jobs", json=job_request(dataset=dataset, split=split, samples=samples, x="-1:1:2", y=None))
        assert (r.status_code, r.json()) == (422, {"detail": detail})
        assert c.get("/api/jobs").json() == before


@pytest.mark.parametrize(
    "kind, dataset, model",
    [("cifar10", "cifar", "tinycnn"), ("cifar10-jpeg", "jpegs", "tinycnn"), ("mnist", "digits", "tinycnn_mnist")],
)
def test_a_whole_split_is_accepted(sized: ThreadServer, kind: str, dataset: str, model: str):
    train, test = PUBLISHED[kind]
    with sized.client() as c:
        for split, samples in (("train", train), ("test", test)):
            request = job_request(model=model, dataset=dataset, split=split, samples=samples, x="-1:1:2", y=None)
            r = c.post("/api/jobs", json=request)
            assert r.status_code == 202, r.text
            c.delete(f"/api/jobs/{r.json()['id']}")


def test_a_split_of_unknown_size_is_checked_by_the_worker(sized: ThreadServer):
    """A tensors file's splits are known once read: the job is queued, and fails naming the split's size."""
    with sized.client() as c:
        job = sized.run_job(c, job_request(split="test", samples=301, x="-1:1:2", y=None))
        assert (job["state"], job["error"]) == ("failed", "asked for 301 samples but the test split has only 300")
        for path in ("", "/file"):  # its surface names the job and why it failed, not a bare 'no surface'
            r = c.get(f"/api/surfaces/{job['surface_id']}{path}")
            assert (r.status_code, r.json()) == (
                404,
                {
                    "detail": f"surface {job['surface_id']!r} has no points: its job failed "
                    f"(see /api/jobs/{job['id']}): asked for 301 samples but the test split has only 300"
                },
            )


def test_data_that_does_not_fit_the_model_fails_the_job_in_words_of_the_api(sized: ThreadServer):
    """The engine's message names no command-line option (the API has none): the job's dataset or model."""
    with sized.client() as c:
        job = sized.run_job(c, job_request(model="tinycnn_mnist", samples=10, x="-1:1:2", y=None))
    assert job["state"] == "failed"
    assert job["error"].startswith("the train samples (shape (3, 16, 16)) do not fit model 'tinycnn_mnist' (")
    assert job["error"].endswith("); give data of the shape the model was built for, or another model")
    assert "--" not in job["error"]


@pytest.mark.parametrize(
    "model, known, same_shape",
    [("tinycnn_mnist", "cifar", "rgb32"), ("tinycnn_mnist", "jpegs", "rgb32"), ("resnet20", "clothes", "gray28")],
)
def test_a_model_that_cannot_take_a_known_datasets_samples_is_refused_at_submission(
    sized: ThreadServer, model: str, known: str, same_shape: str
):
    """A standard dataset's sample shape is known: the mismatch is refused before anything is queued, in
    the words the worker uses for data of that shape read from a file."""
    with sized.client() as c:
        failed = sized.run_job(c, job_request(model=model, dataset=same_shape, samples=10, x="-1:1:2", y=None))
        assert failed["state"] == "failed" and "do not fit model" in failed["error"]
        before = c.get("/api/jobs").json()
        r = c.post(
            "/api/jobs", json=job_request(model=model, dataset=known, split="both", samples=10, x="-1:1:2", y=None)
        )
        assert (r.status_code, r.json()) == (422, {"detail": failed["error"]})
        assert c.get("/api/jobs").json() == before


@pytest.mark.parametrize(
    "dataset, label, missing",
    [
        ("cifar", "CIFAR-10", "not in the data root it is configured with"),
        ("digits", "MNIST", "not in the data root it is configured with"),
        ("jpegs", "CIFAR-10 (JPEG q75 copy)", "no 'train' directory in its data root"),
        ("folder", "image folder", "no 'train' directory in its data root"),
        ("bare", "image folder", "no images under train/<class>/ in its data root"),
        ("zipped", "image folder", "its data root is neither a directory nor a tar archive in ImageFolder layout"),
        ("later", "image folder", "its data root does not exist"),
    ],
)
def test_a_dataset_missing_from_its_root_fails_the_job_in_words_of_the_api(
    sized: ThreadServer, dataset: str, label: str, missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The root holds no data, or not in the layout of its kind: the error names neither the server's path
    nor a download option (the API has none), but what is missing and who must act."""
    monkeypatch.setenv("LOSSATLAS_CACHE", str(tmp_path))  # no decoded copy of the dataset to fall back on
    model = "tinycnn_mnist" if dataset == "digits" else "tinycnn"
    with sized.client() as c:
        r = c.post("/api/jobs", json=job_request(model=model, dataset=dataset, samples=10, x="-1:1:2", y=None))
        assert r.status_code == 202, r.text
        root = sized.settings.datasets[dataset].root
        if dataset == "later":
            root.rmdir()
        sized.work()
        job = c.get(f"/api/jobs/{r.json()['id']}").json()
    assert (job["state"], job["error"]) == (
        "failed",
        f"{label} is missing on the server ({missing}); the server's operator must put its files there",
    )
    assert str(root.parent) not in job["error"]
