"""Training: it learns, it resumes exactly, its augmentation is crop + flip, it keeps a path's checkpoints."""

import warnings

import pytest
import torch
from independent import plain_metrics

from workers.train import TrainConfig, augment_batch, train


def config(path, **kw):
    return TrainConfig(model="tinycnn", dataset="tensors", data_root=str(path), batch_size=32, **kw)


def test_training_lowers_the_loss(learnable_npz, tmp_path):
    result = train(config(learnable_npz, epochs=4, lr=0.05, milestones=(0.75,)), tmp_path / "run", log=lambda m: None)
    first, last = result.history[0], result.history[-1]
    assert last.train_loss < first.train_loss
    assert len(result.history) == 4 and [h.epoch for h in result.history] == [1, 2, 3, 4]
    assert result.history[3].lr == pytest.approx(0.005)  # dropped at 75% of 4 epochs


@pytest.mark.parametrize(
    "epochs, milestones, lrs",
    [
        (1, (0.5, 0.75), [0.1]),
        (2, (0.5, 0.75), [0.1, 0.01]),  # no room for two drops: the second falls after the run
        (4, (0.1, 0.75), [0.1, 0.01, 0.01, 0.001]),
        (3, (0.5, 0.75), [0.1, 0.01, 0.001]),  # both round to epoch 2 (1.5 and 2.25): one drop each, 1 and 2
        (3, (0.75, 0.5), [0.1, 0.01, 0.001]),  # in any order
        (5, (0.3, 0.4, 0.5), [0.1, 0.1, 0.01, 0.001, 0.0001]),  # 2, 2, 2 -> 2, 3, 4
        (6, (0.5, 0.75), [0.1, 0.1, 0.1, 0.01, 0.001, 0.001]),  # rounded apart (3, 4): as they round
        (10, (0.5, 0.75), [0.1] * 5 + [0.01] * 3 + [0.001] * 2),  # the gallery's 10-epoch runs: 5 and 8
    ],
)
def test_the_learning_rate_drops_after_the_first_epoch_at_the_earliest(epochs, milestones, lrs):
    cfg = TrainConfig(model="tinycnn", epochs=epochs, milestones=milestones)
    assert [cfg.lr_at(e) for e in range(epochs)] == pytest.approx(lrs)


class Interrupt(Exception):
    pass


def test_interrupted_training_resumes_exactly(learnable_npz, tmp_path):
    cfg = config(learnable_npz, epochs=3, save_every=1)
    straight = train(cfg, tmp_path / "straight", log=lambda m: None)

    def stop_in_epoch_2(epoch, step, steps, loss, acc):
        if epoch == 1 and step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "resumed", progress=stop_in_epoch_2, log=lambda m: None)
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["epoch_0.pt", "epoch_1.pt", "last.pt"]
    resumed = train(cfg, tmp_path / "resumed", log=lambda m: None)

    a = torch.load(straight.checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.checkpoint, weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [h.train_loss for h in straight.history] == [h.train_loss for h in resumed.history]


def test_resume_with_other_settings_is_refused(learnable_npz, tmp_path):
    train(config(learnable_npz, epochs=1), tmp_path / "run", log=lambda m: None)
    with pytest.raises(ValueError, match="other settings"):
        train(config(learnable_npz, epochs=1, lr=0.01), tmp_path / "run", log=lambda m: None)


def test_resume_of_a_run_trained_on_another_schedule_is_refused(learnable_npz, tmp_path):
    cfg = config(learnable_npz, epochs=3, train_samples=64)

    def stop_in_epoch_3(epoch, step, steps, loss, acc):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "run", progress=stop_in_epoch_3, log=lambda m: None)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert [h["lr"] for h in state["history"]] == pytest.approx([0.1, 0.01])
    state["history"][1]["lr"] = 0.1  # as an older lossatlas trained it: both milestones at epoch 3
    torch.save(state, tmp_path / "run" / "last.pt")
    with pytest.raises(ValueError) as e:
        train(cfg, tmp_path / "run", log=lambda m: None)
    assert str(e.value) == (
        f"{tmp_path / 'run' / 'last.pt'} was trained at lr 0.1 in epoch 2, where this lossatlas's schedule gives "
        "0.01 (milestone epochs placed by an older version); use another output directory"
    )
    assert not (tmp_path / "run" / "final.pt").exists()


def test_augmentation_is_a_padded_crop_possibly_flipped():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    out = augment_batch(x, gen)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    flips = 0
    for i in range(len(x)):
        windows = [padded[i, :, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)]
        plain = any(torch.equal(out[i], w) for w in windows)
        flipped = any(torch.equal(out[i], w.flip(-1)) for w in windows)
        assert plain or flipped, i
        flips += flipped and not plain
    assert 10 < flips < 54  # about half are flipped


@pytest.mark.parametrize(
    "bad",
    [
        dict(epochs=0),
        dict(lr=-1.0),
        dict(milestones=(1.5,)),
        dict(milestones=(0.5, 0.5)),
        dict(batch_size=0),
        dict(optimizer="rmsprop"),
        dict(save_every_steps=-1),
        dict(gamma=-1.0),  # a negative learning rate after the first milestone
    ],
)
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        TrainConfig(model="tinycnn", **bad)


def test_adam_learns_and_takes_other_steps_than_sgd(learnable_npz, tmp_path):
    kw = dict(epochs=2, lr=0.01, weight_decay=0.0, augment=False)
    adam = train(config(learnable_npz, optimizer="adam", **kw), tmp_path / "adam", log=lambda m: None)
    sgd = train(config(learnable_npz, **kw), tmp_path / "sgd", log=lambda m: None)
    assert adam.history[-1].train_loss < adam.history[0].train_loss
    a = torch.load(adam.checkpoint, weights_only=True)["state_dict"]
    b = torch.load(sgd.checkpoint, weights_only=True)["state_dict"]
    assert not torch.equal(a["conv1.weight"], b["conv1.weight"])
    last = torch.load(tmp_path / "adam" / "last.pt", weights_only=True)
    assert "exp_avg" in last["optimizer"]["state"][0]  # Adam's moments, kept for resuming


def test_step_and_epoch_checkpoints_hold_the_path_and_the_recipe(learnable_npz, tmp_path):
    cfg = config(learnable_npz, epochs=2, save_every=1, save_every_steps=3)  # 256 samples / 32: 8 steps an epoch
    result = train(cfg, tmp_path / "run", log=lambda m: None)
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == [
        "epoch_0.pt",
        "epoch_1.pt",
        "epoch_2.pt",
        "final.pt",
        "last.pt",
        "step_0.pt",
        "step_12.pt",
        "step_15.pt",
        "step_3.pt",
        "step_6.pt",
        "step_9.pt",
    ]
    step_15 = torch.load(tmp_path / "run" / "step_15.pt", weights_only=True)
    assert step_15["step"] == 15 and step_15["config"]["save_every_steps"] == 3
    epoch_0 = torch.load(tmp_path / "run" / "epoch_0.pt", weights_only=True)
    final = torch.load(result.checkpoint, weights_only=True)["state_dict"]
    epoch_2 = torch.load(tmp_path / "run" / "epoch_2.pt", weights_only=True)
    assert epoch_0["epoch"] == 0 and not torch.equal(epoch_0["state_dict"]["conv1.weight"], final["conv1.weight"])
    assert all(torch.equal(epoch_2["state_dict"][k], final[k]) for k in final)
    assert epoch_2["acc"] == pytest.approx(result.history[-1].test_acc)


def test_a_run_saved_before_new_settings_existed_resumes(learnable_npz, tmp_path):
    cfg = config(learnable_npz, epochs=2)
    train(config(learnable_npz, epochs=1), tmp_path / "run", log=lambda m: None)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    state["config"] = {k: v for k, v in state["config"].items() if k not in ("optimizer", "save_every_steps")}
    state["config"]["epochs"] = 2
    torch.save(state, tmp_path / "run" / "last.pt")
    assert len(train(cfg, tmp_path / "run", log=lambda m: None).history) == 2
    with pytest.raises(ValueError, match="other settings"):
        train(config(learnable_npz, epochs=2, optimizer="adam"), tmp_path / "run", log=lambda m: None)


def test_a_trained_run_is_a_trajectory(learnable_npz, tmp_path):
    from workers.trajectory import compute_trajectory

    run = tmp_path / "run"
    train(config(learnable_npz, epochs=3, save_every=1, lr=0.05), run, log=lambda m: None)
    surface = compute_trajectory(
        {
            "model": "tinycnn",
            "dataset": "tensors",
            "data_root": str(learnable_npz),
            "split": "test",
            "samples": 32,
            "batch_size": 32,
            "x": "-1:1:2",
            "y": "-1:1:2",
            "directions": {"checkpoints": [str(run)]},
        }
    )
    t = surface.trajectory
    assert t.labels == ["epoch_0", "epoch_1", "epoch_2", "epoch_3"] and t.epochs.tolist() == [0, 1, 2, 3]
    assert (t.x[-1], t.y[-1]) == (0.0, 0.0)
    from workers.checkpoints import load_model
    from workers.data import load_split

    x, y, _ = load_split("tensors", "test", str(learnable_npz), 32, 0)
    loss, acc = plain_metrics(load_model("tinycnn", run / "epoch_1.pt"), x, y, batch_size=32)
    assert t.metrics["test_loss"][1] == pytest.approx(loss, rel=1e-6) and t.metrics["test_acc"][1] == acc


def test_a_seeded_subset_trains_as_a_file_holding_only_those_samples(learnable_npz, tmp_path):
    """``train_samples``/``test_samples``: the same images as the surfaces' seeded subsets (torch.randperm
    seeded with the run's seed, sorted), so a run on them equals a run on a file holding only them."""
    import numpy as np

    z = np.load(learnable_npz)
    keep_train = np.sort(torch.randperm(256, generator=torch.Generator().manual_seed(0))[:64].numpy())
    keep_test = np.sort(torch.randperm(64, generator=torch.Generator().manual_seed(0))[:16].numpy())
    small = tmp_path / "small.npz"
    np.savez(
        small,
        x_train=z["x_train"][keep_train],
        y_train=z["y_train"][keep_train],
        x_test=z["x_test"][keep_test],
        y_test=z["y_test"][keep_test],
    )
    subset = train(
        config(learnable_npz, epochs=2, train_samples=64, test_samples=16), tmp_path / "a", log=lambda m: None
    )
    whole = train(config(small, epochs=2), tmp_path / "b", log=lambda m: None)
    assert [(h.train_loss, h.test_loss, h.test_acc) for h in subset.history] == [
        (h.train_loss, h.test_loss, h.test_acc) for h in whole.history
    ]
    a = torch.load(subset.checkpoint, weights_only=True)["state_dict"]
    b = torch.load(whole.checkpoint, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="only 256"):
        train(config(learnable_npz, epochs=1, train_samples=1000), tmp_path / "c", log=lambda m: None)
    with pytest.raises(ValueError, match="0 \\(the whole split\\) or positive"):
        config(learnable_npz, train_samples=-1)


def test_cli_trains_on_a_subset_and_refuses_a_negative_one(learnable_npz, tmp_path, capsys):
    from workers.cli import main

    argv = [
        "train",
        "--model",
        "tinycnn",
        "--data",
        "tensors",
        "--data-root",
        str(learnable_npz),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv + ["--train-samples", "64", "--test-samples", "16", "--threads", "1"]) == 0  # as compute
    recipe = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"]
    assert (recipe["train_samples"], recipe["test_samples"]) == (64, 16)
    with pytest.raises(SystemExit) as exit_info:
        main(argv[:-1] + [str(tmp_path / "other"), "--train-samples", "-3"])
    assert exit_info.value.code == 2 and "--train-samples and --test-samples must be 0" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--lr", "0.05", "--no-augment"],
            "{run}/last.pt was written by a training run with other settings (--lr, --no-augment); use another output directory",
        ),
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--optimizer", "lbfgs"], "--optimizer must be one of sgd, adam; got 'lbfgs'"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),  # was "batch size must ..."
        (["--lr", "-1"], "--lr (the learning rate) must be positive, got -1.0"),  # was "learning rate must ..."
        (["--weight-decay", "-0.1"], "--weight-decay must be 0 or more, got -0.1"),  # was torch's "Invalid ..."
    ],
)
def test_cli_refusals_name_trains_options(learnable_npz, tmp_path, capsys, options, message):
    from workers.cli import main

    run = tmp_path / "run"
    argv = ["train", "--model", "tinycnn", "--data", "tensors", "--data-root", str(learnable_npz), "--epochs", "1"]
    argv += ["--batch-size", "32", "--train-samples", "32", "--test-samples", "16", "--out", str(run)]
    assert main(argv) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([*argv, *options])
    assert e.value.code == 2
    assert capsys.readouterr().err == f"lossatlas train: error: {message.format(run=run)}\n"


@pytest.mark.parametrize(
    "damage, why",
    [
        (
            lambda state: state.write_bytes(state.read_bytes()[:500]),  # a copy cut short
            "training state {state} is truncated or damaged: it starts as a PyTorch checkpoint but its archive does "
            "not end properly",
        ),
        (lambda state: torch.save({"w": torch.zeros(2)}, state), "{state} holds no lossatlas training state"),
    ],
)
def test_a_run_whose_state_cannot_be_read_is_refused_in_one_line(learnable_npz, tmp_path, capsys, damage, why):
    """A damaged last.pt ended the command with torch's traceback ("PytorchStreamReader failed ...", KeyError)."""
    from workers.cli import main

    run = tmp_path / "run"
    argv = ["train", "--model", "tinycnn", "--data", "tensors", "--data-root", str(learnable_npz), "--epochs", "1"]
    argv += ["--batch-size", "32", "--train-samples", "32", "--test-samples", "16", "--out", str(run)]
    assert main(argv) == 0
    damage(run / "last.pt")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([*argv, "--epochs", "2"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f"lossatlas train: error: {why.format(state=run / 'last.pt')}; remove it to train {run} from the start, or "
        "choose another --out\n"
    )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_flat_inputs_train_without_augmentation_whatever_augment_says(tmp_path, monkeypatch):
    """Crop and flip apply to images only (#16): on flat tensors augment=True trains exactly as False."""
    import numpy as np

    (tmp_path / "flatmodels.py").write_text(
        "import torch.nn as nn\n\ndef mlp():\n    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    np.savez(
        tmp_path / "flat.npz",
        x_train=x,
        y_train=(x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0),
        x_test=x[:8],
        y_test=np.zeros(8, dtype=np.int64),
    )
    runs = [
        TrainConfig(
            model="flatmodels:mlp",
            dataset="tensors",
            data_root=str(tmp_path / "flat.npz"),
            epochs=2,
            batch_size=16,
            augment=augment,
        )
        for augment in (True, False)
    ]
    results = [train(cfg, tmp_path / f"run{i}", log=lambda m: None) for i, cfg in enumerate(runs)]
    a, b = (torch.load(r.checkpoint, weights_only=True)["state_dict"] for r in results)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_model_args_build_the_model_are_kept_in_the_recipe_and_checked_on_resume(tmp_path, monkeypatch, capsys):
    """``train --model-args`` (#16): the model is built with them, they are stored, a resume with others
    is refused in one line and leaves the run as it was."""
    import numpy as np

    from workers.cli import main

    (tmp_path / "argmodels.py").write_text(
        "import torch.nn as nn\n\n"
        "def mlp(hidden=4, bias=True):\n"
        "    return nn.Sequential(nn.Linear(6, hidden, bias=bias), nn.ReLU(), nn.Linear(hidden, 3))\n"
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    np.savez(
        tmp_path / "flat.npz",
        x_train=x,
        y_train=(x[:, 0] > 0).astype(np.int64),
        x_test=x[:8],
        y_test=np.zeros(8, dtype=np.int64),
    )
    monkeypatch.chdir(tmp_path)  # the model module is found in the current directory
    argv = ["train", "--model", "argmodels:mlp", "--data", "tensors", "--data-root", "flat.npz", "--batch-size", "16"]
    argv += ["--out", "run", "--epochs", "1"]
    assert main([*argv, "--model-args", '{"hidden": 11}', "--model-args", "bias=false"]) == 0
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert last["config"]["model_args"] == {"hidden": 11, "bias": False}
    assert last["state_dict"]["0.weight"].shape == (11, 6) and "0.bias" not in last["state_dict"]
    before = (tmp_path / "run" / "last.pt").read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--model-args", "hidden=12,bias=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        exit_info.value.code == 2
        and len(err) == 1
        and "other settings (--model-args); use another output directory" in err[0]
    ), err
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
    assert main([*argv, "--model-args", "bias=false,hidden=11"]) == 0  # the same arguments: resumes (done)
    assert "lossatlas: nothing to train: run holds argmodels:mlp trained for 1 epoch\n" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change, message",
    [
        (["--data-root", "{dir}/missing.npz"], "data root '{dir}/missing.npz' of dataset 'tensors' does not exist"),
        (["--momentum", "-1"], "--momentum must be 0 or more, got -1.0"),  # was torch's "Invalid momentum value"
        (["--seed", "-1"], "--seed must be 0 or more, got -1"),  # was trained as seed 2**64 - 1
        (["--out", "{dir}/notes.txt"], "{dir}/notes.txt is a file; a training run writes a directory"),
        (["--model", "tinycnn_mnist"], "the train samples (shape (3, 32, 32)) do not fit model 'tinycnn_mnist' ("),
        (["--model-args", "num_classes=1"], "the train labels go up to 1 but model 'tinycnn' has 1 outputs; give"),
    ],
)
def test_cli_refusals_leave_no_run_directory(learnable_npz, tmp_path, capsys, change, message):
    from workers.cli import main

    (tmp_path / "notes.txt").write_text("keep me\n")
    options = {"--data-root": str(learnable_npz), "--epochs": "1", "--out": str(tmp_path / "run")}
    options[change[0]] = change[1].format(dir=tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "tinycnn", "--data", "tensors", *(a for kv in options.items() for a in kv)])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith(f"lossatlas train: error: {message.format(dir=tmp_path)}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([learnable_npz.name, "notes.txt"])
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


def test_the_same_data_named_another_way_resumes_and_other_data_is_refused(learnable_npz, tmp_path, monkeypatch):
    """--data-root learnable.npz, then the same file by its absolute path: it was refused as other settings."""
    monkeypatch.chdir(learnable_npz.parent)
    relative = TrainConfig(model="tinycnn", dataset="tensors", data_root=learnable_npz.name, batch_size=32, epochs=1)
    train(relative, tmp_path / "run", log=lambda m: None)
    logged: list[str] = []
    train(config(learnable_npz, epochs=1), tmp_path / "run", log=logged.append)
    assert logged == [f"nothing to train: {tmp_path / 'run'} holds tinycnn trained for 1 epoch"]
    other = tmp_path / "other.npz"
    other.write_bytes(learnable_npz.read_bytes())
    with pytest.raises(ValueError, match=r"other settings \(data_root\)"):
        train(config(other, epochs=1), tmp_path / "run", log=lambda m: None)


def test_a_finished_run_run_again_says_so(learnable_npz, tmp_path):
    logged: list[str] = []
    train(config(learnable_npz, epochs=1), tmp_path / "run", log=logged.append)
    logged.clear()
    train(config(learnable_npz, epochs=1), tmp_path / "run", log=logged.append)
    assert logged == [f"nothing to train: {tmp_path / 'run'} holds tinycnn trained for 1 epoch"]


def test_a_second_run_into_the_same_directory_is_refused(learnable_npz, tmp_path, capsys):
    import os
    import subprocess
    import sys
    import time

    from workers.cli import main

    run = tmp_path / "run"
    argv = ["train", "--model", "tinycnn", "--data", "tensors", "--data-root", str(learnable_npz), "--threads", "1"]
    argv += ["--batch-size", "8", "--out", str(run)]
    first = subprocess.Popen(
        [sys.executable, "-m", "server.cli", *argv, "--epochs", "1000"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while first.poll() is None and not (run / "last.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[1]
        with pytest.raises(SystemExit) as e:
            main([*argv, "--epochs", "1000"])
        assert e.value.code == 2
        assert capsys.readouterr().err == (
            f"lossatlas train: error: {run} is being written by process {first.pid} (lossatlas train); wait for it to "
            "end or choose another output directory\n"
        )
        assert (tmp_path / ".run.lock").read_text() == f"{first.pid} (lossatlas train)\n"  # still the first's
    finally:
        first.kill()
        first.communicate(timeout=60)
    assert (tmp_path / ".run.lock").exists()  # left by the killed run: it holds nobody up
    with pytest.raises(SystemExit):
        main([*argv, "--epochs", "2"])
    assert "was written by a training run with other settings (--epochs)" in capsys.readouterr().err
    assert not (tmp_path / ".run.lock").exists()


@pytest.mark.parametrize("split_names", [("x", "y"), ("x_train", "y_train", "x_test", "y_test")])
def test_the_log_says_when_a_tensors_file_without_a_test_split_tests_on_the_training_samples(tmp_path, split_names):
    """A tensors file with only x and y is both splits: its "test" figures were logged as held-out ones. An
    epoch of a few milliseconds took ``(0s)``."""
    import numpy as np

    from workers.checkpoints import load_model
    from workers.progress import duration

    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(40, 3, 8, 8, generator=gen), torch.randint(0, 10, (40,), generator=gen)
    arrays = (x.numpy(), y.numpy(), x[:24].numpy() + 1, y[:24].numpy())  # test samples of their own, if named
    np.savez(tmp_path / "d.npz", **dict(zip(split_names, arrays)))
    logged: list[str] = []
    held_out = len(split_names) == 4
    note = "d.npz has no test split (x_test, y_test): its x and y serve as both splits, so the test figures are on "
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        result = train(config(tmp_path / "d.npz", epochs=1), tmp_path / "run", log=logged.append)
    assert [str(w.message) for w in warned] == ([] if held_out else [note + "training samples, not held-out ones"])
    loss, acc = result.history[0].test_loss, result.history[0].test_acc
    tested = (x[:24] + 1, y[:24]) if held_out else (x, y)
    assert (loss, acc) == pytest.approx(plain_metrics(load_model("tinycnn", result.checkpoint), *tested), rel=1e-6)
    label = "test" if held_out else "test (training samples)"
    seconds = result.history[0].seconds
    assert logged == [
        f"epoch 1/1  lr 0.1  train loss {result.history[0].train_loss:.4f} acc {result.history[0].train_acc:.2f}  "
        f"{label} loss {loss:.4f} acc {acc:.2f}  ({duration(seconds)})",
    ]
    assert not logged[-1].endswith("(0s)")
