"""The gallery's GPU build (workers/gallery_gpu.py, precomputed/build_gpu.py) end to end on the CPU at toy
size: the same pipeline (measure, size the epochs, train with the fast recipe, compute the surfaces,
retire the replaced entries, index, report, export) on a few hundred synthetic 32x32 images."""

import json
import tarfile

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from workers import gallery, gallery_gpu
from workers.checkpoints import load_model
from workers.data import load_split
from workers.evaluate import Evaluator
from workers.fasttrain import OneCycleRecipe
from workers.h5io import read_surface
from workers.resume import comparable

SURFACE = {"samples": 24, "batch_size": 10, "x": "-1:1:3", "y": "-1:1:3"}


def _gpu_entry(id_: str, **extra) -> dict:
    return {
        "id": id_,
        "title": id_,
        "description": "a toy gpu-tier entry",
        "tier": "gpu",
        "model": "tinycnn",
        "dataset": "tensors",
        "training": {"kind": "onecycle", "batch_size": 64, "lr": 0.05},
        "surface": SURFACE,
        **extra,
    }


@pytest.fixture
def toy_gallery(tmp_path, learnable_npz):
    """A gallery with a cpu-tier entry (built) and two gpu-tier entries, one replacing it."""
    old = {
        "id": "old",
        "title": "Old",
        "description": "replaced",
        "tier": "cpu",
        "model": "tinycnn",
        "dataset": "tensors",
        "training": {"epochs": 1, "batch_size": 64},
        "surface": SURFACE,
    }
    entries = [old, _gpu_entry("new", replaces=["old"]), _gpu_entry("extra", optional=True)]
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "entries": entries}, indent=1))
    gallery.build("cpu", directory=tmp_path, data_root=str(learnable_npz), log=lambda m: None)
    assert (tmp_path / "old.h5").exists() and (tmp_path / "checkpoints" / "old.pt").exists()
    return tmp_path


def test_gpu_build_end_to_end_on_the_cpu(toy_gallery, learnable_npz, tmp_path_factory):
    root = str(learnable_npz)
    report = gallery_gpu.build_gpu(
        toy_gallery,
        budget_s=1e6,
        device="cpu",
        data_root=root,
        min_epochs=1,
        max_epochs=2,
        report=toy_gallery / "report.json",
        log=lambda m: None,
    )
    assert json.loads((toy_gallery / "report.json").read_text()) == json.loads(json.dumps(report))
    plan = report["plan"]
    assert plan["epochs"] == 2 and plan["build"] == ["new", "extra"] and not plan["over_budget"]
    assert report["surfaces"] == "exact" and list(report["plans"]) == ["exact"]  # auto: exact fits
    assert all(m["step_s"] > 0 and m["point_s"] > 0 and m["points"] == 9 for m in report["measured"])

    # the manifest now pins the sized epochs, and the replaced entry is gone with its files
    manifest = gallery.load_manifest(toy_gallery)
    assert [e.id for e in manifest.entries] == ["new", "extra"]
    assert all(e.training.epochs == 2 for e in manifest.entries)
    assert not any((toy_gallery / f).exists() for f in ("old.h5", "old.dirs.h5", "checkpoints/old.pt"))
    assert report["retired"] == ["old"]

    index = gallery.Index.model_validate_json((toy_gallery / "index.json").read_text())
    assert index == gallery.build_index(manifest, toy_gallery)
    x_test, y_test, _ = load_split("tensors", "test", root)
    for entry, line in zip(manifest.entries, index.entries):
        surface = read_surface(toy_gallery / line.file)
        assert surface.is_complete and set(surface.metrics) == {"train_loss", "train_acc", "test_loss", "test_acc"}
        assert all(np.isfinite(v).all() for v in surface.metrics.values())
        assert 0 <= surface.attrs["landscape_stats"]["nonconvex_share"] <= 1
        spec = gallery.surface_spec(entry, toy_gallery, root)
        assert comparable(surface.recipe)["spec"] == comparable({"spec": spec.model_dump(mode="json")})["spec"]
        assert surface.recipe["compute"]["device"] == "cpu" and len(surface.arrays["samples_train"]) == 24

        # how it was trained: in the checkpoint, in the surface, in the index's one line
        ckpt = gallery.checkpoint_path(entry, toy_gallery)
        record = torch.load(ckpt, map_location="cpu", weights_only=True)["training"]
        assert surface.attrs["training"] == record
        assert OneCycleRecipe.model_validate(record["recipe"]) == entry.training
        assert [h["epoch"] for h in record["history"]] == [1, 2] and record["steps_per_epoch"] == 4
        assert record["precision"] == "fp32" and record["train_samples"] == 256
        assert line.epochs == 2 and line.tier == "gpu" and line.checkpoint_sha256 == surface.recipe["checkpoint_sha256"]
        assert line.source.startswith("trained by lossatlas: 2 epochs, one-cycle SGD (peak lr 0.05, Nesterov")
        assert f"{line.test_acc:.2f}% test accuracy" in line.source

        # the reported accuracy is the checkpoint's, recomputed here on the whole test split
        model = load_model("tinycnn", ckpt)
        recomputed = Evaluator(model, {"test": (x_test, y_test)}, batch_size=500).evaluate()["test_acc"]
        assert line.test_acc == recomputed == record["test_acc"]
        assert report["entries"][[r["id"] for r in report["entries"]].index(entry.id)]["test_acc"] == recomputed

    # a rerun trains and computes nothing again
    before = {p.name: p.read_bytes() for p in [*toy_gallery.glob("*.h5"), *toy_gallery.glob("checkpoints/*.pt")]}
    again = gallery_gpu.build_gpu(
        toy_gallery, budget_s=1e6, device="cpu", data_root=root, min_epochs=1, max_epochs=2, log=lambda m: None
    )
    assert all(m["step_s"] == 0 and m["points"] == 0 for m in again["measured"]) and again["retired"] == []
    after = {p.name: p.read_bytes() for p in [*toy_gallery.glob("*.h5"), *toy_gallery.glob("checkpoints/*.pt")]}
    assert after == before

    dest = tmp_path_factory.mktemp("export")
    written = gallery_gpu.export(toy_gallery, report, dest, part_bytes=20_480)  # small parts: several archives
    assert written[-1] == dest / "build_gpu.json"
    assert json.loads(written[-1].read_text()) == json.loads(json.dumps(report))
    assert len(written) > 2 and all(p.stat().st_size <= 20_480 for p in written[:-1])
    unpacked = tmp_path_factory.mktemp("unpacked")
    for archive in written[:-1]:
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
    kept = ["manifest.json", "index.json", "new.h5", "extra.h5", "checkpoints/new.pt", "checkpoints/extra.pt"]
    assert sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file()) == sorted(kept)
    assert all((unpacked / n).read_bytes() == (toy_gallery / n).read_bytes() for n in kept)


def test_the_command_line_script_builds_and_exports(toy_gallery, learnable_npz, tmp_path_factory, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_gpu", gallery.GALLERY_DIR / "build_gpu.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    dest = tmp_path_factory.mktemp("out")
    argv = [
        "--device",
        "cpu",
        "--directory",
        str(toy_gallery),
        "--data-root",
        str(learnable_npz),
        "--only",
        "new",
        "--min-epochs",
        "3",
        "--max-epochs",
        "3",
        "--surfaces",
        "fast",
        "--export",
        str(dest),
    ]
    assert script.main(argv) == 0
    report = json.loads((dest / "build_gpu.json").read_text())
    assert sorted(p.name for p in dest.iterdir()) == ["build_gpu.json", "gallery-gpu-1.tar"]
    assert [r["id"] for r in report["entries"]] == ["new"] and report["entries"][0]["epochs"] == 3
    assert json.loads((toy_gallery / ".runs" / "build_gpu.json").read_text()) == report
    # the fast surface mode is what ran, and it is pinned in the manifest and recorded in the file
    assert report["surfaces"] == "fast"
    assert next(e for e in gallery.load_manifest(toy_gallery).entries if e.id == "new").surface.fast
    assert read_surface(toy_gallery / "new.h5").recipe["compute"]["fast"] is True
    with pytest.raises(SystemExit) as e:
        script.main(["--device", "cpu", "--directory", str(toy_gallery), "--only", "nope"])
    assert e.value.code == 2 and "not gpu-tier entries of the manifest: nope" in capsys.readouterr().err


def test_over_budget_switches_to_fast_surfaces_and_a_hard_stop_leaves_the_rest(toy_gallery, learnable_npz):
    root = str(learnable_npz)
    report = gallery_gpu.build_gpu(
        toy_gallery, 0, "cpu", root, min_epochs=2, max_epochs=2, log=lambda m: None, stop_after_s=0
    )
    # nothing fits a zero budget: the optional entry is dropped, the fast mode measured and chosen
    assert list(report["plans"]) == ["exact", "fast"] and report["surfaces"] == "fast"
    assert report["plan"]["dropped"] == ["extra"] and report["plan"]["over_budget"]
    assert report["entries"] == [] and report["not_started"] == ["new"] and report["retired"] == []
    assert not (toy_gallery / "checkpoints" / "new.pt").exists() and (toy_gallery / "old.h5").exists()
    manifest = {e.id: e for e in gallery.load_manifest(toy_gallery).entries}
    assert (manifest["new"].training.epochs, manifest["new"].surface.fast) == (2, True)  # sized and pinned
    assert (manifest["extra"].training.epochs, manifest["extra"].surface.fast) == (None, False)
    # the next run continues in the pinned mode
    report = gallery_gpu.build_gpu(toy_gallery, 1e6, "cpu", root, min_epochs=2, max_epochs=2, log=lambda m: None)
    assert report["surfaces"] == "fast" and [r["id"] for r in report["entries"] if r["complete"]] == ["new", "extra"]
    assert report["retired"] == ["old"]
    with pytest.raises(ValueError, match="pinned to fast surfaces"):
        gallery_gpu.build_gpu(toy_gallery, 1e6, "cpu", root, surfaces="exact", log=lambda m: None)


def _m(id_, epoch_s, surface_s, optional=False):
    return gallery_gpu.Measurement(
        id_,
        "m",
        step_s=epoch_s / 10,
        steps_per_epoch=10,
        point_s=surface_s / 100,
        points=100,
        setup_s=1.0,
        optional=optional,
    )


def test_plan_sizes_one_number_of_epochs_to_the_budget():
    a, b, c = _m("a", 1.0, 10.0), _m("b", 2.0, 20.0), _m("c", 3.0, 30.0, optional=True)
    # fixed: surfaces 60 + setups 3 = 63; 6 s per epoch of all three: (150 - 63) // 6 = 14
    plan = gallery_gpu.plan_epochs([a, b, c], 150, min_epochs=5, max_epochs=60)
    assert (plan.epochs, plan.build, plan.dropped, plan.over_budget) == (14, ["a", "b", "c"], [], False)
    assert plan.estimate_s == pytest.approx(63 + 14 * 6)
    assert gallery_gpu.plan_epochs([a, b, c], 1e5, 5, 60).epochs == 60  # capped
    # 80 s: all three fit only 2 epochs; without the optional one (fixed 32, 3 s per epoch) 16
    plan = gallery_gpu.plan_epochs([a, b, c], 80, 5, 60)
    assert (plan.epochs, plan.build, plan.dropped) == (16, ["a", "b"], ["c"])
    pinned = gallery_gpu.Measurement("p", "m", 0.2, 10, 0.1, 100, 1.0, epochs=10)  # 20 s of training, fixed
    plan = gallery_gpu.plan_epochs([a, b, pinned], 150, 5, 60)  # fixed 11 + 21 + (10 + 1 + 20); (150 - 63) // 3
    assert (plan.epochs, plan.build) == (29, ["a", "b", "p"]) and plan.estimate_s == pytest.approx(63 + 29 * 3)
    plan = gallery_gpu.plan_epochs([a, b], 40, 5, 60)  # nothing optional left to drop
    assert (plan.epochs, plan.over_budget) == (5, True)
    with pytest.raises(ValueError, match="min_epochs <= max_epochs"):
        gallery_gpu.plan_epochs([a], 100, 10, 5)


def test_unsized_fast_recipes_and_bad_replacements_are_refused(tmp_path, learnable_npz):
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "entries": [_gpu_entry("new")]}))
    with pytest.raises(ValueError, match="sized from a measured run: build it with precomputed/build_gpu.py"):
        gallery.build("gpu", directory=tmp_path, data_root=str(learnable_npz), log=lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["learnable.npz", "manifest.json"]  # nothing written
    with pytest.raises(ValidationError, match="replaces 'gone', which is not in the manifest"):
        gallery.Manifest.model_validate({"entries": [_gpu_entry("new", replaces=["gone"])]})
    with pytest.raises(ValidationError, match="kind"):
        gallery.Manifest.model_validate({"entries": [_gpu_entry("new", training={"kind": "cosine", "epochs": 3})]})
