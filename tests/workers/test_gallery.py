"""The gallery: manifest and index are valid and agree with the committed surface files, the pipeline
builds, skips and resumes, and a committed surface can be recomputed from its recipe."""

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from support import CIFAR10_JPEG, default_stop_signals

from workers import gallery
from workers.files import sha256_file
from workers.h5io import Surface, read_surface, write_surface
from workers.resume import comparable
from workers.spec import SurfaceSpec

MANIFEST = gallery.load_manifest()


def test_committed_index_is_what_the_files_say():
    committed = gallery.Index.model_validate_json((gallery.GALLERY_DIR / "index.json").read_text())
    assert committed == gallery.build_index(MANIFEST)
    ids = {e.id for e in MANIFEST.entries}
    assert {e.id for e in committed.entries} <= ids
    assert {e.id for e in MANIFEST.entries if e.tier == "cpu"} <= {e.id for e in committed.entries}


@pytest.mark.parametrize(
    "entry", [e for e in MANIFEST.entries if (gallery.GALLERY_DIR / f"{e.id}.h5").exists()], ids=lambda e: e.id
)
def test_gallery_surface_matches_its_manifest_entry(entry):
    surface = read_surface(gallery.GALLERY_DIR / f"{entry.id}.h5")
    assert surface.is_complete
    fields = gallery.surface_fields(entry)
    if entry.surface.x is None:  # a pca surface: its grid was chosen to cover the path
        fields.update(x=surface.recipe["spec"]["x"], y=surface.recipe["spec"]["y"])
    spec = SurfaceSpec(**fields)
    recipe = comparable(surface.recipe)
    assert recipe["spec"] == comparable({"spec": spec.model_dump(mode="json")})["spec"]
    assert recipe["dataset_label"] == "CIFAR-10 (JPEG q75 copy)"
    if entry.checkpoint is not None:
        assert surface.recipe["checkpoint_sha256"] == entry.checkpoint.sha256
    else:
        from workers.files import sha256_file

        assert surface.recipe["checkpoint_sha256"] == sha256_file(gallery.checkpoint_path(entry))
    assert surface.done.shape == (spec.y.num, spec.x.num)
    locations = surface.recipe["spec"]  # as the repository names them: no build machine's absolute path
    named = [locations["checkpoint"], locations["dir_file"], *locations["directions"].get("checkpoints", [])]
    assert not any(p and Path(p).is_absolute() for p in named), named
    assert entry.checkpoint is None or locations["checkpoint"] == entry.checkpoint.path
    if entry.surface.directions.kind == "pca":  # a training path: a checkpoint per epoch, ending at the centre
        t = surface.trajectory
        assert t.labels == [f"epoch_{k}" for k in range(entry.training.epochs + 1)] and (t.x[-1], t.y[-1]) == (0, 0)
        assert t.attrs["checkpoints_sha256"] and sum(t.attrs["explained_variance_ratio_"][:2]) <= 1
        assert entry.tier != "cpu" or (spec.x.num >= 9 and spec.samples >= 100)  # the CPU sketches of a path
    else:
        # eigenvalue maps cost ~10 forward passes per Hessian-vector product: coarse grids, few samples
        assert (
            entry.tier != "cpu"
            or spec.hessian is not None
            or (spec.x.num >= 31 and spec.samples >= 500 and spec.split == "both")
        )
    assert set(surface.metrics) == set(spec.metrics)
    assert np.isfinite(surface.metrics["train_loss"]).all()
    assert 0 <= surface.attrs["landscape_stats"]["nonconvex_share"] <= 1
    assert len(surface.arrays["samples_train"]) == spec.samples


def test_no_shortcut_resnet56_is_less_convex():
    """Every ResNet-56 pair in the gallery (ours, the paper's) shows the paper's contrast."""
    index = {e.id: e for e in gallery.build_index(MANIFEST).entries}
    # the grid statistic needs a fine grid: the 5x5 eigenvalue maps hold 5 points within r <= 0.5
    fine = {e.id for e in MANIFEST.entries if e.surface.hessian is None}
    pairs = [
        (e, index[e.pair]) for e in index.values() if e.model == "resnet56_noshort" and e.pair in index and e.id in fine
    ]
    assert len(pairs) >= 2
    for noshort, short in pairs:
        assert noshort.landscape_stats["nonconvex_share"] > short.landscape_stats["nonconvex_share"] + 0.2, noshort.id


BUILT = [e for e in MANIFEST.entries if (gallery.GALLERY_DIR / f"{e.id}.h5").exists()]


def test_only_small_checkpoints_are_kept():
    kept = {e.model: gallery.checkpoint_kept(e) for e in MANIFEST.entries}
    assert kept["resnet110_noshort"] and kept["resnet20"] and not kept["vgg16"] and not kept["densenet121"]


@pytest.mark.parametrize("entry", BUILT, ids=lambda e: e.id)
def test_gallery_entry_provenance_and_reported_accuracy(entry):
    """How each entry was made is stored, and the accuracy it reports is the one its checkpoint recorded."""
    import torch

    from workers.fasttrain import OneCycleRecipe
    from workers.files import sha256_file

    surface = read_surface(gallery.GALLERY_DIR / f"{entry.id}.h5")
    line = next(e for e in gallery.build_index(MANIFEST).entries if e.id == entry.id)
    assert line.test_acc == surface.attrs["model_test_acc"] and 0 < line.test_acc <= 100
    assert line.checkpoint_sha256 == surface.recipe["checkpoint_sha256"]
    for split in ("train", "test") if entry.surface.split == "both" else (entry.surface.split,):
        assert len(np.unique(surface.arrays[f"samples_{split}"])) == entry.surface.samples
    if entry.tier == "gpu":  # built after the engine recorded the weights, samples and compute of every surface
        assert {"weights_sha256", "samples", "compute"} <= set(surface.recipe)
        assert surface.recipe["samples"]["test"]["count"] == entry.surface.samples
        assert surface.attrs["training"]["recipe"] == entry.training.model_dump(mode="json")
        assert f"{line.test_acc:.2f}% test accuracy" in line.source and f"{entry.training.epochs} epochs" in line.source
    if entry.training is None:
        return
    ckpt = gallery.checkpoint_path(entry)
    assert ckpt.exists() == gallery.checkpoint_kept(entry), entry.id  # absent only where too large to keep
    if not ckpt.exists():
        return
    assert sha256_file(ckpt) == surface.recipe["checkpoint_sha256"]
    stored = torch.load(ckpt, map_location="cpu", weights_only=True)
    recorded = stored["training"]["test_acc"] if isinstance(entry.training, OneCycleRecipe) else stored["acc"]
    if not getattr(entry.training, "test_samples", 0):  # the CPU paths record their run's figure on a test subset
        # both on the whole test split; the run's own figure was measured on the GPU with TF32: two samples' slack
        assert round(abs(recorded - line.test_acc) * 100) <= 2  # in samples of the 10,000
    epochs = stored["training"]["recipe"]["epochs"] if isinstance(entry.training, OneCycleRecipe) else stored["epoch"]
    assert epochs == entry.training.epochs == line.epochs


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.skipif(not CIFAR10_JPEG.exists(), reason="../shared/data is absent")
@pytest.mark.parametrize("entry", BUILT, ids=lambda e: e.id)
def test_gallery_centre_recomputes_from_its_checkpoint(entry):
    """The centre of every surface is the model itself: its test loss and accuracy on the stated samples,
    recomputed here on the CPU from the checkpoint, are the ones in the file (computed on a GPU)."""
    from workers.checkpoints import load_model
    from workers.data import load_split
    from workers.evaluate import Evaluator

    ckpt = gallery.checkpoint_path(entry)
    if not ckpt.exists():
        pytest.skip(f"{entry.id}: checkpoint not committed")
    surface = read_surface(gallery.GALLERY_DIR / f"{entry.id}.h5")
    split = "train" if entry.surface.split == "train" else "test"  # eigenvalue maps: train only
    if entry.surface.directions.kind == "pca":  # a path's grid covers the path: the centre is its last checkpoint
        t = surface.trajectory
        assert (t.x[-1], t.y[-1]) == (0, 0)
        centre = {k: v[-1] for k, v in t.metrics.items()}
    else:
        iy, ix = int(np.argmin(np.abs(surface.ycoordinates))), int(np.argmin(np.abs(surface.xcoordinates)))
        assert surface.xcoordinates[ix] == surface.ycoordinates[iy] == 0
        centre = {k: v[iy, ix] for k, v in surface.metrics.items()}
    x, y, idx = load_split(entry.dataset, split, samples=entry.surface.samples, seed=entry.surface.sample_seed)
    assert np.array_equal(idx, surface.arrays[f"samples_{split}"])
    values = Evaluator(load_model(entry.model, ckpt), {split: (x, y)}, batch_size=entry.surface.batch_size).evaluate()
    assert values[f"{split}_loss"] == pytest.approx(centre[f"{split}_loss"], rel=1e-4)
    assert abs(values[f"{split}_acc"] - centre[f"{split}_acc"]) <= 100 / entry.surface.samples + 1e-9


@pytest.mark.skipif(not CIFAR10_JPEG.exists(), reason="../shared/data is absent")
def test_a_committed_surface_point_recomputes_on_this_machine():
    """The centre and one corner of ResNet-20's gallery surface (computed on a GPU) from its recipe, on the CPU."""
    from workers.checkpoints import load_model
    from workers.data import load_split
    from workers.directions import random_directions
    from workers.evaluate import Evaluator, FlatWeights

    entry = next(e for e in MANIFEST.entries if e.id == "resnet20")
    surface = read_surface(gallery.GALLERY_DIR / "resnet20.h5")
    spec = gallery.surface_spec(entry)
    model = load_model(spec.model, spec.checkpoint)
    dirs = random_directions(model, spec.directions.seed, 2)
    splits = {
        s: load_split(spec.dataset, s, samples=spec.samples, seed=spec.sample_seed)[:2] for s in ("train", "test")
    }
    for s in ("train", "test"):
        assert np.array_equal(
            load_split(spec.dataset, s, samples=spec.samples, seed=spec.sample_seed)[2], surface.arrays[f"samples_{s}"]
        )
    flat = FlatWeights(model, dirs)
    evaluator = Evaluator(model, splits, batch_size=spec.batch_size)
    for iy, ix in ((15, 15), (0, 30)):
        flat.set_point(surface.xcoordinates[ix], surface.ycoordinates[iy])
        values = evaluator.evaluate()
        for name, value in values.items():
            assert value == pytest.approx(surface.metrics[name][iy, ix], rel=2e-3, abs=0.21), (name, iy, ix)


def test_bad_manifests_are_refused():
    entry = MANIFEST.entries[0].model_dump(mode="json")
    with pytest.raises(ValidationError, match="duplicate"):
        gallery.Manifest.model_validate({"entries": [entry, entry]})
    with pytest.raises(ValidationError, match="unknown id"):
        gallery.Manifest.model_validate({"entries": [entry | {"pair": "nope"}]})
    both = entry | {"pair": None, "checkpoint": {"path": "x.pt", "sha256": "0" * 64, "source": "s"}}
    with pytest.raises(ValidationError, match="exactly one"):
        gallery.Manifest.model_validate({"entries": [both]})
    with pytest.raises(ValidationError):
        gallery.Manifest.model_validate({"entries": [entry | {"pair": None, "tier": "huge"}]})


def test_pipeline_trains_computes_skips_and_resumes(learnable_npz, tmp_path):
    manifest = {
        "version": 1,
        "entries": [
            {
                "id": "tiny",
                "title": "Tiny",
                "description": "a test entry",
                "tier": "cpu",
                "model": "tinycnn",
                "dataset": "tensors",
                "training": {"epochs": 2, "batch_size": 64},
                "surface": {"samples": 40, "x": "-1:1:5", "y": "0:1:3"},
            }
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    root = str(learnable_npz)
    logs = []
    index = gallery.build(directory=tmp_path, data_root=root, log=logs.append)
    assert [e.id for e in index.entries] == ["tiny"] and index.entries[0].status == "complete"
    assert index.entries[0].epochs == 2 and index.entries[0].test_acc is not None
    assert (tmp_path / "checkpoints" / "tiny.pt").exists()
    first = (tmp_path / "tiny.h5").read_bytes()

    logs.clear()
    gallery.build(directory=tmp_path, data_root=root, log=logs.append)
    assert logs == ["[tiny] done"]  # nothing trained or computed again
    assert (tmp_path / "tiny.h5").read_bytes() == first

    # an interrupted surface (some points missing) is resumed, not restarted
    surface = read_surface(tmp_path / "tiny.h5")
    complete = surface.metrics["train_loss"].copy()
    surface.done[1:, :] = False
    for values in surface.metrics.values():
        values[~surface.done] = np.nan
    del surface.attrs["landscape_stats"], surface.attrs["model_test_acc"]
    from workers.h5io import write_surface

    write_surface(tmp_path / "tiny.h5", surface)
    gallery.build(directory=tmp_path, data_root=root, log=lambda m: None)
    resumed = read_surface(tmp_path / "tiny.h5")
    assert resumed.is_complete
    np.testing.assert_array_equal(resumed.metrics["train_loss"], complete)

    # a finished surface whose accuracy was removed gets it measured again, nothing else recomputed
    assert resumed.attrs["model_test_acc_device"] == "cpu"
    del resumed.attrs["model_test_acc"]
    write_surface(tmp_path / "tiny.h5", resumed)
    logs.clear()
    gallery.build(directory=tmp_path, data_root=root, log=logs.append)
    assert [m.split(":")[0] for m in logs] == ["[tiny] test accuracy of the model on the whole test split"]
    again = read_surface(tmp_path / "tiny.h5")
    assert again.attrs["model_test_acc"] == index.entries[0].test_acc
    np.testing.assert_array_equal(again.metrics["train_loss"], complete)

    with pytest.raises(ValueError, match="unknown gallery id"):
        gallery.build(only=["nope"], directory=tmp_path)


def test_gallery_list_names_an_unreadable_surface_and_build_refuses_it_untouched(tmp_path):
    import os
    import subprocess
    import sys

    from workers.h5io import Surface, write_surface

    entry = {"title": "Tiny", "description": "a test entry", "tier": "cpu", "model": "tinycnn", "dataset": "tensors"}
    entry |= {"training": {"epochs": 1}, "surface": {"samples": 8, "x": "-1:1:3", "y": "-1:1:3"}}
    ids = ["done", "gone", "broken", "half"]
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "entries": [entry | {"id": i} for i in ids]}))
    (tmp_path / "index.json").write_text('{"entries": []}')  # what marks a gallery directory
    xs = np.linspace(-1, 1, 3)
    done = np.ones((3, 3), dtype=bool)
    write_surface(tmp_path / "done.h5", Surface(xs, xs, {"train_loss": np.ones((3, 3))}, done))
    done[2] = False
    write_surface(tmp_path / "half.h5", Surface(xs, xs, {"train_loss": np.ones((3, 3))}, done))
    (tmp_path / "broken.h5").write_bytes((tmp_path / "done.h5").read_bytes()[:3000])  # a copy cut short
    env = os.environ | {"LOSSATLAS_GALLERY_DIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    listed = subprocess.run(
        [sys.executable, "-m", "workers.cli", "gallery", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    rows = [line.split(None, 2) for line in listed.stdout.splitlines()]
    assert [r[:2] for r in rows] == [[i, "cpu"] for i in ids]
    assert [rows[0][2], rows[1][2], rows[3][2]] == ["complete", "missing", "partial 6/9"]
    assert rows[2][2].startswith("unreadable: broken.h5 is truncated or damaged: it starts as an HDF5 file but ")
    assert rows[2][2].endswith("); remove it and run lossatlas gallery build --only broken")
    before = (tmp_path / "broken.h5").read_bytes()
    with pytest.raises(ValueError, match=r"^broken.h5 is truncated or damaged: .*build --only broken$"):
        gallery.build(only=["broken"], directory=tmp_path, log=lambda m: None)
    assert (tmp_path / "broken.h5").read_bytes() == before and not (tmp_path / "checkpoints").exists()


@pytest.mark.slow  # a training run and a surface in a new process, the collector at every allocation
def test_a_ctrl_c_python_drops_during_a_surface_stops_gallery_build_at_the_next_point(tmp_path, learnable_npz):
    """A Ctrl-C that landed while the garbage collector ran a callback (Python drops it: "Exception ignored
    in ...") was acted on at the build's next log line only: after the whole surface (minutes to hours)."""
    import os
    import subprocess
    import sys

    entry = {"id": "tiny", "title": "Tiny", "description": "a test entry", "tier": "cpu", "model": "tinycnn"}
    entry |= {"dataset": "tensors", "training": {"epochs": 1, "batch_size": 64}}
    entry |= {"surface": {"samples": 8, "x": "-1:1:9", "y": "-1:1:9"}}
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    (tmp_path / "index.json").write_text('{"entries": []}')  # what marks a gallery directory
    code = (
        "import gc, signal, sys\n"
        "from pathlib import Path\n"
        "out, fired = Path(sys.argv[1]), []\n"
        "def ctrl_c_inside_the_collector(phase, info):\n"
        "    if phase == 'start' and not fired and out.exists():  # a first point is written\n"
        "        fired.append(True)\n"
        "        signal.raise_signal(signal.SIGINT)  # the handler runs here, in the callback\n"
        "        sum(range(100))\n"
        "from workers.cli import main\n"
        "gc.set_threshold(1)  # the collector runs at almost every allocation: at some point after the first write\n"
        "gc.callbacks.append(ctrl_c_inside_the_collector)\n"
        "main(['gallery', 'build', '--data-root', sys.argv[2], '--threads', '1'])\n"
    )
    env = os.environ | {"LOSSATLAS_GALLERY_DIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "tiny.h5"), str(learnable_npz)],
        env=env | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=default_stop_signals,
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines()[-1] == "lossatlas gallery build: interrupted; run the same command again to resume"
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr
    assert 0 < read_surface(tmp_path / "tiny.h5").done.sum() < 81
    assert (tmp_path / "index.json").read_text() == '{"entries": []}'


def test_build_only_takes_an_id_of_any_tier_and_refuses_one_outside_a_given_tier(tmp_path, capsys):
    """--only used to ignore --tier: 'gallery build --tier cpu --only X' built X of tier full."""
    entry = {"title": "Tiny", "description": "a test entry", "model": "tinycnn", "dataset": "tensors"}
    entry |= {"training": {"epochs": 1}, "surface": {"samples": 8, "x": "-1:1:3", "y": "-1:1:3"}}
    tiers = {"small": "cpu", "big": "full"}
    entries = [entry | {"id": i, "tier": t} for i, t in tiers.items()]
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "entries": entries}))
    xs = np.linspace(-1, 1, 3)
    for i in tiers:  # finished surfaces: a build only looks at them
        done = Surface(
            xs, xs, {"train_loss": np.ones((3, 3))}, np.ones((3, 3), dtype=bool), attrs={"model_test_acc": 50}
        )
        write_surface(tmp_path / f"{i}.h5", done)
    for tier in ("cpu", "gpu"):
        with pytest.raises(ValueError, match=f"^--only big is an entry of tier full, not {tier}: give --tier full "):
            gallery.build(tier, ["big"], directory=tmp_path, log=pytest.fail)
    assert not (tmp_path / "index.json").exists()  # refused before anything was written
    for tier in (None, "full", "all"):
        logs = []
        gallery.build(tier, ["big"], directory=tmp_path, log=logs.append)
        assert logs == ["[big] done"]
    logs = []
    gallery.build(directory=tmp_path, log=logs.append)  # no --only: the cpu tier
    assert logs == ["[small] done"]


def test_gallery_build_names_the_index_it_wrote(tmp_path):
    """It said precomputed/index.json whatever the gallery directory (LOSSATLAS_GALLERY_DIR, an installed copy)."""
    import os
    import subprocess
    import sys

    entry = {"id": "small", "title": "Tiny", "description": "a test entry", "tier": "cpu", "model": "tinycnn"}
    entry |= {"dataset": "tensors", "training": {"epochs": 1}, "surface": {"samples": 8, "x": "-1:1:3", "y": "-1:1:3"}}
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    (tmp_path / "index.json").write_text('{"entries": []}')
    xs = np.linspace(-1, 1, 3)
    done = np.ones((3, 3), dtype=bool)
    write_surface(
        tmp_path / "small.h5", Surface(xs, xs, {"train_loss": np.ones((3, 3))}, done, attrs={"model_test_acc": 50})
    )
    env = os.environ | {"LOSSATLAS_GALLERY_DIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    built = subprocess.run(
        [sys.executable, "-m", "workers.cli", "gallery", "build"], env=env, capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr
    assert built.stderr.splitlines() == [
        "[small] done",
        f"lossatlas: index of 1 surface written to {tmp_path / 'index.json'}",
    ]
    assert [e["id"] for e in json.loads((tmp_path / "index.json").read_text())["entries"]] == ["small"]


def test_pipeline_builds_a_trajectory_entry(learnable_npz, tmp_path):
    manifest = {
        "version": 1,
        "entries": [
            {
                "id": "tiny-path",
                "title": "Tiny path",
                "description": "a trajectory entry",
                "tier": "full",
                "model": "tinycnn",
                "dataset": "tensors",
                "training": {"epochs": 3, "batch_size": 64, "save_every": 1, "optimizer": "adam", "lr": 0.01},
                "surface": {"samples": 40, "split": "test", "directions": {"kind": "pca"}, "grid_num": 3},
            }
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    logs = []
    index = gallery.build(tier="full", directory=tmp_path, data_root=str(learnable_npz), log=logs.append)
    entry = index.entries[0]
    assert entry.status == "complete" and entry.source.startswith("trained by lossatlas (3 epochs, ADAM lr 0.01")
    surface = read_surface(tmp_path / "tiny-path.h5")
    assert surface.shape == (3, 3) and entry.grid.endswith(":3") and " x " in entry.grid
    t = surface.trajectory
    assert t.labels == ["epoch_0", "epoch_1", "epoch_2", "epoch_3"] and (t.x[-1], t.y[-1]) == (0.0, 0.0)
    assert surface.recipe["checkpoint_sha256"] == sha256_file(tmp_path / "checkpoints" / "tiny-path.pt")
    # where the files were found, named from the gallery's parent (the checkout's root), not this machine's /
    spec, here = surface.recipe["spec"], tmp_path.name
    assert (spec["checkpoint"], spec["dir_file"]) == (f"{here}/checkpoints/tiny-path.pt", f"{here}/tiny-path.dirs.h5")
    assert spec["directions"]["checkpoints"] == [f"{here}/runs/tiny-path/epoch_{k}.pt" for k in range(4)]
    # the path is kept beside the gallery (the server offers it to PCA jobs), the files the PCA was computed from
    kept = sorted((tmp_path / "runs" / "tiny-path").iterdir())
    assert [p.name for p in kept] == [f"epoch_{k}.pt" for k in range(4)]
    assert [sha256_file(p) for p in kept] == t.attrs["checkpoints_sha256"]
    logs.clear()
    gallery.build(tier="full", directory=tmp_path, data_root=str(learnable_npz), log=logs.append)
    assert logs == ["[tiny-path] done"]
    # An interrupted surface resumes without training again: the final model keeps the hash its PCA
    # directions (kept in tiny-path.dirs.h5) were computed with.
    (tmp_path / "tiny-path.h5").unlink()
    logs.clear()
    gallery.build(tier="full", directory=tmp_path, data_root=str(learnable_npz), log=logs.append)
    assert not any("] training " in line for line in logs), logs
    assert read_surface(tmp_path / "tiny-path.h5").trajectory.attrs["final_sha256"] == t.attrs["final_sha256"]


def test_a_pca_entry_needs_the_training_path():
    entry = {
        "id": "p",
        "title": "P",
        "description": "",
        "tier": "full",
        "model": "tinycnn",
        "dataset": "tensors",
        "training": {"epochs": 2},
        "surface": {"samples": 4, "directions": {"kind": "pca"}},
    }
    with pytest.raises(ValueError, match="save_every"):
        gallery.GalleryEntry.model_validate(entry)
    with pytest.raises(ValueError, match="needs an x axis"):
        gallery.SurfaceRecipe.model_validate({"samples": 4})
    with pytest.raises(ValueError, match="eigenvalue maps"):
        gallery.SurfaceRecipe.model_validate({"samples": 4, "directions": {"kind": "pca"}, "hessian": {}})


def test_pipeline_builds_an_eigenvalue_map_entry(learnable_npz, tmp_path):
    """A manifest entry with a hessian recipe: the file has max_eig/min_eig (those of the spec the recipe
    makes), the centre's curvature summary, and the index carries the eigenvalue statistic."""
    manifest = {
        "version": 1,
        "entries": [
            {
                "id": "tiny-eig",
                "title": "Tiny eig",
                "description": "eigenvalue maps",
                "tier": "cpu",
                "model": "tinycnn",
                "dataset": "tensors",
                "training": {"epochs": 1, "batch_size": 64},
                "surface": {
                    "samples": 16,
                    "split": "train",
                    "x": "-1:1:3",
                    "y": "-1:1:3",
                    "hessian": {"max_steps": 30, "trace_samples": 2, "density_steps": 8, "top_k": 2},
                },
            }
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    index = gallery.build(directory=tmp_path, data_root=str(learnable_npz), log=lambda m: None)
    surface = read_surface(tmp_path / "tiny-eig.h5")
    entry = gallery.load_manifest(tmp_path).entries[0]
    assert surface.recipe["spec"]["hessian"] == gallery.surface_spec(entry, tmp_path).hessian.model_dump(mode="json")
    assert set(surface.metrics) == {"train_loss", "train_acc", "max_eig", "min_eig"}
    assert (surface.metrics["max_eig"] >= surface.metrics["min_eig"]).all()
    assert len(surface.attrs["curvature"]["top_eigenvalues"]) == 2
    stats = index.entries[0].landscape_stats["hessian"]
    assert stats["method"] == "hessian" and stats == surface.attrs["landscape_stats"]["hessian"]


def test_build_parallel_without_ids_says_how_to_use_it():
    """It started nothing and exited 0 without a word."""
    import subprocess

    script = gallery.GALLERY_DIR / "build_parallel.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: precomputed/build_parallel.sh ID [ID ...]")
