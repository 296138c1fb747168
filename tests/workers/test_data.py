"""Datasets as preloaded tensors: tensors files, image folders (directory and tar), subsets, the cache."""

from __future__ import annotations

import os
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from independent import make_images, make_model, plain_metrics
from PIL import Image

from workers import SurfaceSpec, compute_surface, read_surface
from workers.data import NORMALIZATION, DataNotFound, load_raw, load_split, subset_indices, to_tensor

CLASSES = ("cat", "ant", "dog")  # not sorted: labels follow the sorted names


def write_folder(root: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Lossless PNGs in <root>/<split>/<class>/<i>.png."""
    for i, (im, label) in enumerate(zip(images, labels)):
        path = root / split / CLASSES[label] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(path)


def expected_order(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ImageFolder order: classes sorted by name, files sorted within a class."""
    names = sorted(CLASSES)
    keys = sorted(range(len(labels)), key=lambda i: (CLASSES[labels[i]], f"{i:03d}.png"))
    return images[keys], np.array([names.index(CLASSES[labels[i]]) for i in keys])


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSATLAS_CACHE", str(tmp_path / "cache"))
    images, labels = make_images(12, seed=3)
    labels = np.arange(12) % 3  # every class in both splits
    root = tmp_path / "images"
    write_folder(root, "train", images[:9], labels[:9])
    write_folder(root, "test", images[9:], labels[9:])
    return root, images, labels


def test_tensors_npz_splits(tensors_npz):
    with np.load(tensors_npz) as z:
        want = {k: z[k] for k in z.files}
    for split in ("train", "test"):
        x, y, idx = load_split("tensors", split, tensors_npz)
        np.testing.assert_array_equal(x.numpy(), want[f"x_{split}"])  # float data: no scaling, no default normalization
        np.testing.assert_array_equal(y.numpy(), want[f"y_{split}"])
        np.testing.assert_array_equal(idx, np.arange(len(y)))
        assert x.dtype == torch.float32 and y.dtype == torch.int64


def test_tensors_pt_with_x_and_y_serves_both_splits(tmp_path):
    x, y = torch.randn(6, 1, 4, 4), torch.arange(6) % 2
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the training split is what x and y are: nothing to say
        gx, gy, _ = load_split("tensors", "train", tmp_path / "d.pt")
    assert torch.equal(gx, x) and torch.equal(gy, y)
    # the test split too, said: its figures are not held-out ones (they were shown as such)
    with pytest.warns(UserWarning, match=r"^d\.pt has no test split \(x_test, y_test\): its x and y serve as both"):
        gx, gy, _ = load_split("tensors", "test", tmp_path / "d.pt")
    assert torch.equal(gx, x) and torch.equal(gy, y)


def test_uint8_images_are_scaled_transposed_and_normalized():
    images, _ = make_images(3, seed=1, size=5)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    got = to_tensor(images, mean, std)
    want = (images.astype(np.float64) / 255 - np.array(mean)) / np.array(std)  # NHWC
    np.testing.assert_allclose(got.numpy(), want.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "contents, message",
    [
        ({"x": np.zeros((3, 2)), "y": np.zeros(4)}, "x has 3 samples, y has 4"),
        ({"inputs": np.zeros((3, 2))}, "has neither x_train/y_train nor x/y arrays"),
    ],
)
def test_bad_tensors_files_are_refused(tmp_path, contents, message):
    np.savez(tmp_path / "bad.npz", **contents)
    with pytest.raises(ValueError, match=message):
        load_split("tensors", "train", tmp_path / "bad.npz")
    (tmp_path / "bad.csv").write_text("1,2")
    with pytest.raises(ValueError, match="must be .npz or .pt"):
        load_split("tensors", "train", tmp_path / "bad.csv")


def test_bad_dataset_split_and_root_are_refused(tmp_path):
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_raw("imagenet", "train", tmp_path)
    with pytest.raises(ValueError, match="split must be train or test"):
        load_raw("tensors", "val", tmp_path)
    with pytest.raises(ValueError, match="needs a data root"):
        load_raw("tensors", "train")
    with pytest.raises(ValueError, match="does not exist"):
        load_raw("imagefolder", "train", tmp_path / "nowhere")


def test_subset_indices_are_seeded_sorted_and_distinct():
    a, b, c = subset_indices(100, 10, 0), subset_indices(100, 10, 0), subset_indices(100, 10, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for idx in (a, c):
        assert len(set(idx.tolist())) == 10 and (np.diff(idx) > 0).all() and idx.max() < 100
    np.testing.assert_array_equal(subset_indices(5, None, 0), np.arange(5))
    np.testing.assert_array_equal(subset_indices(5, 5, 3), np.arange(5))
    with pytest.raises(ValueError, match="asked for 6 samples but the split has only 5"):
        subset_indices(5, 6, 0)


def test_subset_is_recorded_in_the_surface_file_and_is_what_was_evaluated(tmp_path, tensors_npz):
    model = make_model("tinycnn")
    spec = SurfaceSpec(
        model="tinycnn",
        dataset="tensors",
        data_root=str(tensors_npz),
        split="both",
        samples=10,
        sample_seed=4,
        x="-1:1:3",
        batch_size=4,
    )
    compute_surface(spec, tmp_path / "s.h5", model=model)
    s = read_surface(tmp_path / "s.h5")
    assert s.recipe["spec"]["samples"] == 10 and s.recipe["spec"]["sample_seed"] == 4
    with np.load(tensors_npz) as z:
        for split in ("train", "test"):
            idx = s.arrays[f"samples_{split}"]
            assert len(idx) == 10 and len(set(idx.tolist())) == 10
            x, y = torch.from_numpy(z[f"x_{split}"][idx]), torch.from_numpy(z[f"y_{split}"][idx])
            loss, acc = plain_metrics(model, x, y)
            np.testing.assert_allclose(s.metrics[f"{split}_loss"][1], loss, rtol=1e-6)
            assert s.metrics[f"{split}_acc"][1] == pytest.approx(acc)


def test_imagefolder_directory(folder):
    root, images, labels = folder
    for split, part in (("train", slice(0, 9)), ("test", slice(9, 12))):
        x, y = load_raw("imagefolder", split, root)
        want_x, want_y = expected_order(images[part], labels[part])
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)
    x, y, _ = load_split("imagefolder", "train", root, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert x.shape == (9, 3, 8, 8)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("mode, suffix", [("w", ".tar"), ("w:gz", ".tar.gz")])
def test_imagefolder_tar_archive_with_a_top_folder(folder, tmp_path, mode, suffix):
    root, images, labels = folder
    archive = tmp_path / f"images{suffix}"
    with tarfile.open(archive, mode) as tar:
        tar.add(root, arcname="tiny")  # members are tiny/train/<class>/<file>
    x, y = load_raw("imagefolder", "train", archive)
    want_x, want_y = expected_order(images[:9], labels[:9])
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)


def test_decoded_images_are_cached_and_the_cache_follows_the_files(folder):
    root, images, labels = folder
    first, _ = load_raw("imagefolder", "train", root)
    cached = list((Path(os.environ["LOSSATLAS_CACHE"]) / "decoded").glob("imagefolder-train-*.npz"))
    assert len(cached) == 1
    # Overwrite one image with other pixels of the same file size and mtime: a second load that
    # returns the old pixels did not decode the images again.
    victim = sorted((root / "train").glob("*/*.png"))[0]
    st = victim.stat()
    victim.write_bytes(b"\0" * st.st_size)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    again, _ = load_raw("imagefolder", "train", root)
    np.testing.assert_array_equal(again, first)
    # A new image in a class folder is new data: decoded again, not served stale from the cache.
    victim.unlink()
    Image.fromarray(images[0]).save(root / "train" / "ant" / "new.png")
    Image.fromarray(images[1]).save(victim)
    grown, _ = load_raw("imagefolder", "train", root)
    assert len(grown) == len(first) + 1


def test_a_cache_that_cannot_be_written_leaves_the_data_decoded_and_says_so(folder, tmp_path, monkeypatch):
    """A read-only home (a container, a CI sandbox): loading stopped at the cache's mkdir."""
    root, images, labels = folder
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("LOSSATLAS_CACHE", str(tmp_path / "a-file" / "cache"))  # refused even to root
    with pytest.warns(UserWarning, match=r"^decoded image folder not cached in .*a-file/cache/decoded \("):
        x, y = load_raw("imagefolder", "train", root)
    want_x, want_y = expected_order(images[:9], labels[:9])
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "images"]


def test_default_normalization_of_the_jpeg_cifar_copy():
    mean, std = NORMALIZATION["cifar10-jpeg"]
    np.testing.assert_allclose(mean, np.array([125.3, 123.0, 113.9]) / 255)
    np.testing.assert_allclose(std, np.array([63.0, 62.1, 66.7]) / 255)


def test_a_split_lacking_a_class_keeps_the_labels_of_the_others(tmp_path, monkeypatch):
    """Classes come from both splits: a test split without "cat" must not move "dog" from 2 to 1."""
    monkeypatch.setenv("LOSSATLAS_CACHE", str(tmp_path / "cache"))
    images, _ = make_images(6, seed=5)
    root = tmp_path / "images"
    write_folder(root, "train", images[:3], np.array([0, 1, 2]))
    write_folder(root, "test", images[3:], np.array([1, 2, 2]))  # ant, dog, dog: no cat
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname="images")
    for source in (root, archive):
        _, y = load_raw("imagefolder", "test", source)
        assert sorted(y.tolist()) == [0, 2, 2]  # sorted names over both splits: ant, cat, dog


def test_a_missing_data_root_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"data root .*missing.npz.* does not exist"):
        load_raw("tensors", "train", tmp_path / "missing.npz")


def test_the_command_line_says_when_it_decodes_a_dataset_once(folder, tmp_path, capsys):
    """Decoding CIFAR-10's 60,000 JPEGs takes tens of seconds the first time: the command said nothing."""
    from workers.cli import main

    root, _, _ = folder
    args = ["compute", "--model", "tinycnn", "--data", "imagefolder", "--data-root", str(root), "--split", "both"]
    args += ["--mean", "0.5", "--std", "0.5", "--x", "0:0:1"]
    cache = Path(os.environ["LOSSATLAS_CACHE"]) / "decoded"
    assert main([*args, "--out", str(tmp_path / "a.h5")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "decoding" in line]
    assert notes == [
        f"lossatlas: decoding the {split} images of images once (cached in {cache})" for split in ("train", "test")
    ]
    assert main([*args, "--out", str(tmp_path / "b.h5")]) == 0
    assert "decoding" not in capsys.readouterr().err  # read from the cache


def test_a_folder_without_the_split_is_refused_in_one_line_with_no_note_of_decoding(tmp_path, capsys):
    """An empty directory given as an image folder said "decoding the train images ... once" before refusing."""
    from workers.cli import main

    (tmp_path / "empty").mkdir()
    args = ["compute", "--model", "tinycnn", "--data", "imagefolder", "--data-root", str(tmp_path / "empty")]
    with pytest.raises(SystemExit) as e:
        main([*args, "--mean", "0.5", "--std", "0.5", "--x", "0:0:1", "--out", str(tmp_path / "a.h5")])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f"lossatlas compute: error: image folder '{tmp_path / 'empty'}' has no 'train' directory\n"
    )


def test_without_the_jpeg_copy_of_cifar10_the_refusal_names_the_real_one(tmp_path, monkeypatch):
    """A checkout without ../shared/data (any user's) was told "dataset 'cifar10-jpeg' needs a data root"."""
    import workers.data

    monkeypatch.delenv("LOSSATLAS_CIFAR10_JPEG", raising=False)
    monkeypatch.setattr(workers.data, "__file__", str(tmp_path / "checkout" / "workers" / "data.py"))
    monkeypatch.chdir(tmp_path)
    assert workers.data.default_root("cifar10-jpeg") is None
    with pytest.raises(DataNotFound) as e:
        load_raw("cifar10-jpeg", "train")
    assert str(e.value) == (
        "the JPEG copy of CIFAR-10 (cifar10-jpeg) is not here: give its archive or directory with --data-root (or "
        "$LOSSATLAS_CIFAR10_JPEG), or use the real CIFAR-10: --data cifar10 --download"
    )
    with pytest.raises(ValueError, match=r"^dataset 'tensors' needs a data root .*: give it with --data-root$"):
        load_raw("tensors", "train")
