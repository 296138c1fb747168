"""``lossatlas compute`` as a user runs it: a subprocess, killed and resumed; one-line errors."""

from __future__ import annotations

import argparse
import gc
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runs import compute_args, refusal
from support import default_stop_signals, kill_when

from workers import SurfaceSpec, compute_surface, read_surface
from workers.cli import build_parser, check_options, main
from workers.spec import HessianSpec

LOSSATLAS = Path(sys.executable).with_name("lossatlas")
COMMAND = [str(LOSSATLAS)] if LOSSATLAS.exists() else [sys.executable, "-m", "workers.cli"]


def lossatlas(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kwargs
    )


@pytest.fixture
def big_npz(tmp_path) -> Path:
    """Enough samples that a point takes tens of milliseconds, so a run can be killed halfway."""
    gen = torch.Generator().manual_seed(0)
    path = tmp_path / "big.npz"
    np.savez(
        path,
        x=torch.randn(2000, 3, 16, 16, generator=gen).numpy(),
        y=torch.randint(0, 10, (2000,), generator=gen).numpy(),
    )
    return path


def test_compute_writes_a_surface(tmp_path, tensors_npz):
    out = tmp_path / "s.h5"
    proc = lossatlas(*compute_args(tensors_npz, out, "--y", "-1:0:2", "--split", "both"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    s = read_surface(out)
    assert s.done.all() and s.shape == (2, 3)
    assert set(s.metrics) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert err.startswith(f"lossatlas: tinycnn on tensors/both, 6 points -> {out}\n")
    assert "6/6 pts (100%)" in err and "6/6 points in" in err
    assert "\r" not in err and "\x1b" not in err  # stderr is a pipe: plain lines, no bar redrawn in place
    assert (tmp_path / "s.dirs.h5").exists()


def test_a_rerun_of_a_complete_file_says_nothing_was_computed_and_where(tmp_path, tensors_npz, capsys):
    out = tmp_path / "s.h5"
    assert main(compute_args(tensors_npz, out)) == 0
    capsys.readouterr()
    before = out.stat().st_mtime_ns
    assert main(compute_args(tensors_npz, out)) == 0
    assert capsys.readouterr().err == (
        f"lossatlas: nothing computed: {out} already holds all 3 points of this computation "
        "(--overwrite recomputes them)\n"
    )
    assert out.stat().st_mtime_ns == before


def test_the_engines_warning_is_one_line_and_the_nan_points_are_counted(tmp_path, tensors_npz):
    """Points past an interpolation's ends whose BatchNorm running variances turn negative are NaN: said
    before, as one line like the command's others (not Python's warning with its source line), and counted."""
    import torch

    from workers.zoo import create_model

    model = create_model("tinycnn").eval()
    torch.save(model.state_dict(), tmp_path / "a.pt")
    with torch.no_grad():
        model.bn1.running_var[0] = 3.0  # from 1: 1 + 2x, negative below x = -0.5 (zero at -0.5: finite)
    torch.save(model.state_dict(), tmp_path / "b.pt")
    out = tmp_path / "s.h5"
    args = compute_args(tensors_npz, out, "--checkpoint", str(tmp_path / "a.pt"), "--target", str(tmp_path / "b.pt"))
    proc = lossatlas(*args, "--x", "-1:1:5")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err.startswith(  # every metric, named; the spec's field by the option that sets it
        "lossatlas: warning: 1 of 5 grid points move a BatchNorm running variance below zero (every x outside "
        "[-0.5, 1]): train_loss and train_acc are NaN there; --dir-type weights keeps the model's running "
        "statistics\n"
    ), err
    assert "UserWarning" not in err and "warnings.warn" not in err
    assert err.endswith(f"lossatlas: 5/5 points in {out}; 1 of them NaN\n"), err
    for values in read_surface(out).metrics.values():
        assert np.isnan(values).tolist() == [True, False, False, False, False]


def test_the_last_line_counts_a_point_nan_in_any_metric():
    """A resumed file lists its metrics sorted, accuracy first: NaN logits give a finite accuracy there."""
    from workers.cli import _Display
    from workers.h5io import Surface

    xs = np.linspace(-1, 1, 3)
    loss, acc = np.array([np.nan, 1.0, np.nan]), np.array([10.0, 50.0, np.nan])
    surface = Surface(xs, None, {"train_acc": acc, "train_loss": loss}, np.array([True, True, False]))
    assert _Display("header").result(surface, Path("s.h5")) == "lossatlas: 2/3 points in s.h5; 1 of them NaN"


def test_a_one_point_surface_is_counted_as_one_point(tmp_path, tensors_npz, capsys):
    out = tmp_path / "s.h5"
    assert main(compute_args(tensors_npz, out, "--x", "0:0:1")) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"lossatlas: tinycnn on tensors/train, 1 point -> {out}\n"), err
    assert err.endswith(f"lossatlas: 1/1 point in {out}\n"), err
    assert read_surface(out).done.tolist() == [1]


def test_bad_argument_exits_2_with_one_line(tmp_path, tensors_npz):
    proc = lossatlas(*compute_args(tensors_npz, tmp_path / "s.h5", "--y", "1:-1:3"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == ["lossatlas compute: error: --y: axis min must be below max, got 1.0:-1.0"]
    assert not (tmp_path / "s.h5").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (
            ["--norm", "filters"],
            "argument --norm: invalid choice: 'filters' (choose from 'filter', 'layer', 'weight', 'none')",
        ),
        (["--x", "-1:1"], "error: --x: axis '-1:1' is not min:max:num (for example -1:1:51)"),
        (  # was "got num=0"
            ["--y", "-1:1:0"],
            "error: --y: axis -1:1:0 has no points: its num (the last number) must be 1 or more, e.g. -1:1:51",
        ),
        (["--x", "-1:1:5000"], "error: --x: axis -1:1:5000 has 5000 points; give at most 1001"),  # was pydantic's
        (["--samples", "0"], "error: --samples: Input should be greater than or equal to 1"),  # was 'samples: '
        (["--batch-size", "0"], "error: --batch-size: Input should be greater than or equal to 1"),
        (["--sample-seed", "-1"], "error: --sample-seed: Input should be greater than or equal to 0"),  # = 2**64 - 1
        (["--seed", "-1"], "error: --seed: Input should be greater than or equal to 0"),
        (["--checkpoint", "missing.t7"], "--checkpoint missing.t7 does not exist"),
        (["--data-root", "missing.npz"], "missing.npz"),
        (["--samples", "99999"], "asked for 99999 samples but the train split has only 40"),
        (["--split", "both", "--samples", "30"], "asked for 30 samples but the test split has only 24"),
        (["--same-dir"], "error: --same-dir needs a 2-D grid (a y axis)"),  # was 'same_dir needs ...'
        (["--threads", "0"], "argument --threads: '0' is not a number of threads (1 or more)"),
        (  # was "... leave points per pass unset": no option is called that
            ["--points-per-pass", "2", "--hessian"],
            "the Hessian maps are computed one point per pass: leave points_per_pass unset (--points-per-pass)",
        ),
        (["--target-y", "b.pt"], "--target-y is the second target of a plane through three models: give --target too"),
        (["--mean", "0.5,0.5,0.5"], "give --mean and --std together (one value per channel each)"),
        (
            ["--mean", "0.5,0.5", "--std", "0.2,0.2"],  # was a torch RuntimeError's traceback
            "normalization mean has 2 values for images of 3 channels: give one per channel (--mean/--std)",
        ),
        (["--dir-file", "d.h5", "--norm", "layer"], "--norm makes new directions; --dir-file uses its own as they are"),
        (["--dir-file", "d.h5", "--seed", "5"], "--seed makes new directions; --dir-file uses its own as they are"),
    ],
)
def test_bad_arguments_get_one_line_naming_the_problem(tmp_path, tensors_npz, capsys, change, message):
    args = compute_args(tensors_npz, tmp_path / "s.h5")
    for i in range(0, len(change), 2):  # replace an option's value, or add the option
        if change[i] in args and i + 1 < len(change):
            args[args.index(change[i]) + 1] = change[i + 1]
        else:
            args += change[i : i + 2]
    last = refusal(capsys, args)
    assert last.startswith("lossatlas compute: error: ") and message in last
    assert not (tmp_path / "s.h5").exists()


@pytest.mark.parametrize("flag", ["--checkpoint", "--dir-file", "--target"])
def test_a_directory_given_for_an_input_file_is_named_as_one(tmp_path, tensors_npz, capsys, flag):
    """A run's directory given for its checkpoint was "--checkpoint DIR does not exist"."""
    run = tmp_path / "run"
    run.mkdir()
    assert refusal(capsys, compute_args(tensors_npz, tmp_path / "s.h5", flag, str(run))) == (
        f"lossatlas compute: error: {flag} {run} is a directory; give a file in it, not the directory"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tiny.npz"]


def test_a_surface_file_given_as_the_direction_file_names_its_direction_file(tmp_path, tensors_npz, capsys):
    """It was "direction file s.h5 has no 'xdirection' group"."""
    assert main(compute_args(tensors_npz, tmp_path / "s.h5")) == 0
    capsys.readouterr()
    assert refusal(capsys, compute_args(tensors_npz, tmp_path / "t.h5", "--dir-file", str(tmp_path / "s.h5"))) == (
        "lossatlas compute: error: s.h5 is a surface file, not a direction file; its directions are in s.dirs.h5 "
        "beside it"
    )
    assert main(compute_args(tensors_npz, tmp_path / "t.h5", "--dir-file", str(tmp_path / "s.dirs.h5"))) == 0


def test_an_out_file_cut_short_is_named_as_such(tmp_path, tensors_npz, capsys):
    out = tmp_path / "s.h5"
    assert main(compute_args(tensors_npz, out)) == 0
    out.write_bytes(out.read_bytes()[:3000])
    capsys.readouterr()
    line = refusal(capsys, compute_args(tensors_npz, out))  # was "s.h5 is not an HDF5 file (...)"
    assert line.startswith("lossatlas compute: error: s.h5 is truncated or damaged: it starts as an HDF5 file but ")
    assert line.endswith("); choose another --out, or add --overwrite to replace it")
    assert len(out.read_bytes()) == 3000


def test_direction_options_given_are_recorded_and_defaults_are_the_specs(tmp_path, tensors_npz):
    assert main(compute_args(tensors_npz, tmp_path / "a.h5", "--seed", "3", "--ignore", "none")) == 0
    assert main(compute_args(tensors_npz, tmp_path / "b.h5")) == 0
    given, default = (read_surface(tmp_path / f).recipe["spec"]["directions"] for f in ("a.h5", "b.h5"))
    assert (given["seed"], given["ignore"]) == (3, "none")
    assert (default["seed"], default["ignore"]) == (0, "biasbn")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--checkpoint", "{dir}/notes.pt"], "checkpoint '{dir}/notes.pt' is not a weights file torch can load safely"),
        (["--directions", "pca", "--checkpoints", "{dir}/epoch_*.pt"], "no checkpoint file matches '{dir}/epoch_*.pt'"),
    ],
)
def test_a_refused_run_prints_only_its_error(tmp_path, tensors_npz, capsys, extra, message):
    """No header line or empty progress bar before the error: those come with the first point."""
    (tmp_path / "notes.pt").write_text("not weights\n")
    with pytest.raises(SystemExit) as e:
        main(compute_args(tensors_npz, tmp_path / "s.h5", *(a.format(dir=tmp_path) for a in extra)))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lossatlas compute: error: {message.format(dir=tmp_path)}") and err.count("\n") == 1, err
    assert not (tmp_path / "s.h5").exists()


@pytest.fixture
def path_dir(tmp_path) -> Path:
    """A training path of three tinycnn checkpoints in their own directory."""
    from independent import make_model

    run = tmp_path / "run"
    run.mkdir()
    gen = torch.Generator().manual_seed(0)
    for i in range(3):
        state = {
            k: v + 0.01 * i * torch.randn(v.shape, generator=gen) for k, v in make_model("tinycnn").state_dict().items()
        }
        torch.save(state, run / f"epoch_{i}.pt")
    return run


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--grid-num", "0"], "argument --grid-num: '0' is not a number of points per axis (1 or more)"),
        (["--margin", "-1"], "margin must be at least 0, got -1.0"),
        (["--samples", "0"], "--samples: Input should be greater than or equal to 1"),
        (
            ["--proj-file", "{dir}/nodir/p.h5"],
            "the directory of --proj-file {dir}/nodir/p.h5 does not exist; create {dir}/nodir first or choose another --proj-file",
        ),
        (
            ["--directions", "random", "--x", "-1:1:3", "--proj-file", "{dir}/p.h5"],
            "--proj-file is the projection of a training path: use it with --directions pca",
        ),
    ],
)
def test_pca_refusals_are_one_line_and_write_no_file(tmp_path, tensors_npz, path_dir, capsys, extra, message):
    args = compute_args(tensors_npz, tmp_path / "s.h5", "--checkpoints", str(path_dir), *extra)
    del args[args.index("--x") : args.index("--x") + 2]  # the grid covers the path
    before = sorted(tmp_path.rglob("*"))
    last = refusal(capsys, [a.format(dir=tmp_path) for a in args])
    assert last == f"lossatlas compute: error: {message.format(dir=tmp_path)}"
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--checkpoints", "{run}", "--y", "-1:1:3", "--grid-num", "5"],
            "--grid-num sizes the grid only when --x/--y are not given: drop --grid-num or --x/--y",
        ),
        (
            ["--checkpoints", "{run}", "--margin", "0.5"],
            "--margin sizes the grid only when --x/--y are not given: drop --margin or --x/--y",
        ),
        (["--grid-num", "5"], "--grid-num sizes the grid around a training path: use it with --directions pca"),
        (
            ["--projection", "lstsq"],
            "--projection projects a training path's checkpoints: use it with --directions pca",
        ),
        (
            ["--download"],
            "--download fetches cifar10, mnist, fashion-mnist through torchvision; --data tensors is read from "
            "--data-root as it is: drop --download",
        ),
        (
            ["--download", "--data", "imagefolder"],
            "--download fetches cifar10, mnist, fashion-mnist through torchvision; --data imagefolder is read "
            "from --data-root as it is: drop --download",
        ),
    ],
)
def test_options_that_would_be_ignored_are_refused(tmp_path, tensors_npz, path_dir, capsys, extra, message):
    """An option that cannot shape this computation is refused, not silently dropped: the user meant it."""
    args = compute_args(tensors_npz, tmp_path / "s.h5", *(a.format(run=path_dir) for a in extra))
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"lossatlas compute: error: {message}"]
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "module, args, start",
    [("workers.cli", ["--version"], "lossatlas "), ("workers.jobloop", ["--help"], "usage: python -m workers.jobloop")],
)
def test_python_m_runs_without_a_warning(module, args, start):
    """``python -m workers.cli`` (no installed command) and ``python -m workers.jobloop`` (the worker that
    ``lossatlas serve`` starts) must not find their module imported already: runpy then warns on every run."""
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=repo, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith(start) and proc.stderr == "", proc.stderr


def test_gallery_build_takes_threads_as_compute_does(capsys):
    last = refusal(capsys, ["gallery", "build", "--threads", "-1"])
    assert last == "lossatlas gallery build: error: argument --threads: '-1' is not a number of threads (1 or more)"


def test_gallery_build_refuses_an_only_id_outside_the_tier_given(capsys):
    with pytest.raises(SystemExit) as e:
        main(["gallery", "build", "--tier", "cpu", "--only", "resnet56-gpu"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "lossatlas gallery build: error: --only resnet56-gpu is an entry of tier gpu, not cpu: give --tier gpu "
        "(or all), or leave out --tier\n"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["compute", "--modle", "tinycnn", "--out", "s.h5"],
            "lossatlas compute: error: unrecognized option --modle: did you mean --model?",
        ),
        (
            ["compute", "--model", "tinycnn", "--sampels=5"],
            "lossatlas compute: error: unrecognized option --sampels: did you mean --samples?",
        ),
        (
            ["gallery", "build", "--tire", "cpu"],
            "lossatlas gallery build: error: unrecognized option --tire: did you mean --tier?",
        ),
        (
            ["train", "--zzz"],
            "lossatlas train: error: unrecognized option --zzz: lossatlas train --help lists the options",
        ),
        (["--verison"], "lossatlas: error: unrecognized option --verison: did you mean --version?"),
    ],
)
def test_a_mistyped_option_is_named_with_the_closest_one(tmp_path, capsys, argv, message):
    """argparse blamed a mistyped required option as missing, and others under the top command's usage."""
    assert refusal(capsys, argv) == message
    parser = build_parser()  # what argparse takes stays taken: a unique prefix, a value after --
    check_options(parser, ["compute", "--samp", "5", "--x=-1:1:3", "--", "--anything"])


def test_train_download_is_refused_for_data_read_from_data_root(tmp_path, tensors_npz, capsys):
    with pytest.raises(SystemExit) as e:
        main(
            ["train", "--model", "tinycnn", "--data", "tensors", "--data-root", str(tensors_npz), "--download"]
            + ["--out", str(tmp_path / "run")]
        )
    assert e.value.code == 2 and capsys.readouterr().err == (
        "lossatlas train: error: --download fetches cifar10, mnist, fashion-mnist through torchvision; --data "
        "tensors is read from --data-root as it is: drop --download\n"
    )
    assert not (tmp_path / "run").exists()


def test_errors_name_the_whole_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["gallery", "build", "--only", "nope"])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("lossatlas gallery build: error: unknown gallery id nope; ")


def test_a_path_the_file_system_refuses_is_one_line_not_a_traceback(tmp_path, capsys):
    from server.cli import main as lossatlas_main  # `lossatlas worker`: its queue's directory is a file here

    (tmp_path / "notes.txt").write_text("keep me\n")
    with pytest.raises(SystemExit) as e:
        lossatlas_main(["worker", "--data-dir", str(tmp_path / "notes.txt"), "--once"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"lossatlas worker: error: the data directory {tmp_path / 'notes.txt'} is a file; choose another --data-dir\n"
    )
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--threads", "-1", "'-1' is not a number of threads (1 or more)"),
        ("--lease", "-5", "'-5' is not a number of seconds above 0"),
        ("--poll", "0", "'0' is not a number of seconds above 0"),
    ],
)
def test_worker_refuses_bad_numbers_in_one_line(tmp_path, capsys, option, value, message):
    from server.cli import main as lossatlas_main

    with pytest.raises(SystemExit) as e:
        lossatlas_main(["worker", "--data-dir", str(tmp_path), "--once", option, value])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"lossatlas worker: error: argument {option}: {message}"
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_of_another_model_is_one_line(tmp_path, tensors_npz, capsys):
    from independent import make_model

    torch.save(make_model("resnet20").state_dict(), tmp_path / "r20.pt")
    last = refusal(capsys, compute_args(tensors_npz, tmp_path / "s.h5", "--checkpoint", str(tmp_path / "r20.pt")))
    assert "does not fit model 'tinycnn': " in last


def test_killed_run_resumes_and_ends_equal_to_an_uninterrupted_one(tmp_path, big_npz):
    out = tmp_path / "killed.h5"
    args = compute_args(big_npz, out, "--y", "-1:1:7")
    args[args.index("--x") + 1] = "-1:1:7"
    proc = lossatlas(*args)
    done_at_kill = kill_when(proc, lambda: out.exists() and 10 <= (n := int(read_surface(out).done.sum())) < 49 and n)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    partial = read_surface(out)
    assert partial.done.sum() == done_at_kill

    resumed = lossatlas(*args)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    computed = int(re.findall(r"(\d+) new", err)[-1])
    assert computed == 49 - int(partial.done.sum())  # no finished point computed again

    spec = SurfaceSpec(
        model="tinycnn", dataset="tensors", data_root=str(big_npz), batch_size=256, x="-1:1:7", y="-1:1:7"
    )
    whole = compute_surface(spec, tmp_path / "whole.h5")
    final = read_surface(out)
    assert final.done.all()
    for name in ("train_loss", "train_acc"):
        np.testing.assert_array_equal(final.metrics[name], whole.metrics[name])
        done = partial.done
        np.testing.assert_array_equal(partial.metrics[name][done], whole.metrics[name][done])


def test_fast_mode_prints_and_stores_its_deviation_from_exact(tmp_path, tensors_npz):
    out = tmp_path / "fast.h5"
    proc = lossatlas(*compute_args(tensors_npz, out, "--y", "-1:1:3", "--fast", "--points-per-pass", "4"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    check = read_surface(out).recipe["compute"]["fast_check"]
    assert len(check["points"]) == 5
    line = err.strip().splitlines()[-1]
    assert line.startswith("lossatlas: fast mode's largest deviation from exact at 5 points: train_loss ")
    assert f"train_loss {check['max_abs']['train_loss']:.2g}" in line


def test_points_per_pass_below_one_is_one_line_and_writes_nothing(tmp_path, tensors_npz, capsys):
    assert (
        refusal(capsys, compute_args(tensors_npz, tmp_path / "s.h5", "--points-per-pass", "0"))
        == "lossatlas compute: error: argument --points-per-pass: '0' is not a number of points (1 or more)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [tensors_npz.name]


def test_compute_with_hessian_maps_the_eigenvalues(tmp_path, tensors_npz):
    out = tmp_path / "s.h5"
    proc = lossatlas(
        *compute_args(
            tensors_npz,
            out,
            "--hessian",
            "--hessian-steps",
            "20",
            "--hessian-params",
            "reference",
            "--no-curvature-summary",
        )
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    s = read_surface(out)
    assert s.done.all() and set(s.metrics) == {"train_loss", "train_acc", "max_eig", "min_eig"}
    assert s.recipe["spec"]["hessian"] == {
        **s.recipe["spec"]["hessian"],
        "max_steps": 20,
        "params": "reference",
        "summary": False,
    }
    assert np.all(s.metrics["max_eig"] > s.metrics["min_eig"]) and "curvature" not in s.attrs
    spec = SurfaceSpec.model_validate({**s.recipe["spec"], "data_root": str(tensors_npz)})
    torch.set_num_threads(1)
    again = compute_surface(spec)  # the Python API with the recorded spec gives the same maps
    np.testing.assert_array_equal(again.metrics["max_eig"], s.metrics["max_eig"])


@pytest.mark.parametrize("clash", ["--checkpoint", "--data-root"])
def test_out_that_is_a_file_the_run_reads_is_refused_even_with_overwrite(tmp_path, tensors_npz, capsys, clash):
    from independent import make_model

    weights = tmp_path / "w.pt"
    torch.save(make_model("tinycnn").state_dict(), weights)
    files = {p: p.read_bytes() for p in (weights, tensors_npz)}
    out = weights if clash == "--checkpoint" else tensors_npz
    with pytest.raises(SystemExit) as e:
        main(compute_args(tensors_npz, out, "--checkpoint", str(weights), "--overwrite"))
    assert e.value.code == 2 and {p: p.read_bytes() for p in files} == files
    assert sorted(tmp_path.iterdir()) == sorted(files)
    assert capsys.readouterr().err == (
        f"lossatlas compute: error: --out {out} is the {clash} file of this run; choose another --out\n"
    )


def test_hessian_run_says_what_it_stored_and_warns_of_unconverged_points(tmp_path, tensors_npz, capsys):
    out = tmp_path / "s.h5"
    assert main(compute_args(tensors_npz, out, "--hessian", "--hessian-steps", "2", "--no-curvature-summary")) == 0
    s = read_surface(out)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lossatlas:")]
    assert lines[0] == (
        f"lossatlas: tinycnn on tensors/train, 3 points with max_eig and min_eig of the train loss's Hessian "
        f"(at most 2 Lanczos steps per point) -> {out}"
    )
    ranges = ", ".join(f"{m} {s.metrics[m].min():.4g} .. {s.metrics[m].max():.4g}" for m in ("max_eig", "min_eig"))
    residual = s.attrs["hessian_residual"]
    assert residual > 0.01
    assert lines[2] == f"lossatlas: {ranges} (Lanczos residuals up to {residual:.2g} of the spectral radius)"
    assert lines[3] == (
        "lossatlas: warning: Lanczos stopped at --hessian-steps 2 before --hessian-tol 0.01: max_eig and min_eig "
        "may be too small in magnitude; recompute with more --hessian-steps (--overwrite)"
    )
    assert main(compute_args(tensors_npz, out, "--hessian", "--no-curvature-summary", "--overwrite")) == 0
    lines = capsys.readouterr().err.splitlines()
    assert read_surface(out).attrs["hessian_residual"] <= 0.01 and "warning" not in lines[-1]


@pytest.mark.parametrize(
    "option, message",
    [
        (["--hessian-tol", "0"], "--hessian-tol 0.0: Input should be greater than 0"),
        (["--hessian-tol", "nan"], "--hessian-tol nan: Input should be a finite number"),
        (["--hessian-steps", "1"], "--hessian-steps 1: Input should be greater than or equal to 2"),
        (["--hessian-method", "arpack"], "--hessian-method arpack: Input should be 'lanczos' or 'reference'"),
        (["--hessian-scale", "sum"], "--hessian-scale sum: Input should be 'mean' or 'batch_sum'"),
        (["--hessian-params", "all"], "--hessian-params all: Input should be 'moved' or 'reference'"),
    ],
)
def test_bad_hessian_options_are_named_by_their_flag(tmp_path, tensors_npz, capsys, option, message):
    with pytest.raises(SystemExit) as e:
        main(compute_args(tensors_npz, tmp_path / "s.h5", "--hessian", *option))
    assert e.value.code == 2 and sorted(p.name for p in tmp_path.iterdir()) == [tensors_npz.name]
    assert capsys.readouterr().err == f"lossatlas compute: error: {message}\n"


def test_hessian_options_need_hessian(tmp_path, tensors_npz, capsys):
    with pytest.raises(SystemExit) as e:
        main(compute_args(tensors_npz, tmp_path / "s.h5", "--hessian-tol", "1e-4"))
    assert e.value.code == 2 and not (tmp_path / "s.h5").exists()
    assert (
        capsys.readouterr().err
        == "lossatlas compute: error: --hessian-tol is an option of the eigenvalue maps: add --hessian\n"
    )


def test_version_and_the_choices_in_the_help(capsys, monkeypatch):
    from workers import __version__

    monkeypatch.setenv("COLUMNS", "20")  # a narrow terminal: argparse wrapped the version's line
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"lossatlas {__version__} (torch {torch.__version__})\n"
    monkeypatch.delenv("COLUMNS")
    with pytest.raises(SystemExit):
        main(["compute", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    for option, values in (
        ("--norm", "filter,layer,weight,none"),
        ("--split", "train,test,both"),
        ("--loss", "ce,mse"),
        ("--dir-type", "weights,states"),
        ("--ignore", "biasbn,none"),
    ):
        assert f"{option} {{{values}}}" in usage


def _commands(parser: argparse.ArgumentParser, name: str = "lossatlas"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _commands(sub, f"{name} {sub_name}")


def test_every_option_says_what_it_does_and_its_default():
    """Every command, ``serve`` and ``worker`` too. Their options default to None in argparse (a flag left
    out keeps the LOSSATLAS_* setting), so each one that takes a value must state the setting's default."""
    from server.cli import build_parser
    from server.settings import Settings

    commands = dict(_commands(build_parser()))
    assert {"lossatlas compute", "lossatlas train", "lossatlas gallery build", "lossatlas export"} <= set(commands)
    assert {"lossatlas serve", "lossatlas worker"} <= set(commands)
    for name, parser in commands.items():
        formatter = parser._get_formatter()
        from_settings = name in ("lossatlas serve", "lossatlas worker")
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            text = formatter._expand_help(action)
            assert text, f"{name} {action.option_strings[0]} has no help"
            has_default = action.default not in (None, [], argparse.SUPPRESS) and action.default is not False
            if has_default or (from_settings and action.nargs != 0):
                assert "default" in text, f"{name} {action.option_strings[0]}: {text!r} does not give its default"
    serve = {
        a.dest: " ".join(commands["lossatlas serve"]._get_formatter()._expand_help(a).split())
        for a in commands["lossatlas serve"]._actions
    }
    d = Settings.model_fields
    assert f"(default {d['max_points'].default}; LOSSATLAS_MAX_POINTS)" in serve["max_points"]
    assert f"(default {d['max_samples'].default}; LOSSATLAS_MAX_SAMPLES)" in serve["max_samples"]
    assert f"(default {d['port'].default}; LOSSATLAS_PORT)" in serve["port"]


def run_python(code: str) -> subprocess.CompletedProcess:
    """``code`` run by a new Python (one torch thread), its output captured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_without_ray_nothing_of_ray_is_imported(tmp_path, tensors_npz):
    """Ray is an optional extra: the CLI, the server's CLI and a compute never import it unless asked."""
    code = (
        "import sys\n"
        "import server.cli, workers\n"
        f"server.cli.main({compute_args(tensors_npz, tmp_path / 's.h5')!r})\n"
        "assert 'ray' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ray'))\n"
        "print('no ray')\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "no ray" and read_surface(tmp_path / "s.h5").done.all()


def test_ray_asked_for_where_it_is_not_installed_is_one_line(tmp_path, tensors_npz):
    code = (
        "import sys\n"
        "sys.modules['ray'] = None  # import ray fails, as where the extra is not installed\n"
        "import server.cli\n"
        f"server.cli.main({compute_args(tensors_npz, tmp_path / 's.h5', '--ray')!r})\n"
    )
    proc = run_python(code)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "lossatlas compute: error: Ray is not installed; install it with pip install 'lossatlas[ray]' or run without --ray"
    )
    assert not (tmp_path / "s.h5").exists()


def test_a_second_run_on_the_same_out_is_refused_and_a_killed_runs_lock_holds_nobody_up(tmp_path, big_npz, capsys):
    out = tmp_path / "s.h5"
    first = compute_args(big_npz, out)
    first[first.index("--x") + 1] = "-1:1:401"  # long enough to be running when the second run starts
    proc = lossatlas(*first)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1]
    try:
        recipe = read_surface(out).recipe
        with pytest.raises(SystemExit) as e:  # --overwrite and another recipe: the worst case
            main(compute_args(big_npz, out, "--seed", "1", "--overwrite"))
        assert e.value.code == 2
        assert capsys.readouterr().err == (
            f"lossatlas compute: error: {out} is being written by process {proc.pid} (lossatlas compute); "
            "wait for it to end or choose another output file\n"
        )
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert read_surface(out).recipe == recipe  # the first run's: nothing of the second was written
    lock = tmp_path / ".s.h5.lock"
    assert lock.exists()  # a killed run leaves its lock file, unlocked
    assert main(compute_args(big_npz, out, "--overwrite", "--samples", "16")) == 0
    assert read_surface(out).done.all() and not lock.exists()


def test_a_trajectory_on_an_out_being_written_is_refused_before_its_directions_are_written(
    tmp_path, tensors_npz, path_dir, capsys
):
    from workers.files import writing

    out = tmp_path / "s.h5"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another thread: a lock file's flock is per open file, not per process
        with writing(out):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60)
        args = compute_args(tensors_npz, out, "--checkpoints", str(path_dir))
        del args[args.index("--x") : args.index("--x") + 2]
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"lossatlas compute: error: {out} is being written by process {os.getpid()} (")
        assert len(err.splitlines()) == 1
        assert not out.exists() and not (tmp_path / "s.dirs.h5").exists()
    finally:
        release.set()
        holder.join(60)
    assert not (tmp_path / ".s.h5.lock").exists()


def test_an_out_among_a_servers_surfaces_is_refused(tmp_path, tensors_npz, capsys):
    from workers.jobqueue import JobQueue

    JobQueue(tmp_path / "data")
    (tmp_path / "data" / "surfaces").mkdir()
    out = tmp_path / "data" / "surfaces" / "s.h5"
    with pytest.raises(SystemExit) as e:
        main(compute_args(tensors_npz, out))
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f"lossatlas compute: error: {out} is a file of the lossatlas server whose data directory is "
        f"{tmp_path / 'data'}: its jobs write there; submit the computation to the server or choose another output "
        "file\n"
    )
    assert sorted(p.name for p in (tmp_path / "data" / "surfaces").iterdir()) == []


def interrupted_while_starting(tmp_path: Path, argv0: str) -> tuple[int, str]:
    """``from server.cli import main`` with ``sys.argv[0]`` = ``argv0`` (``lossatlas`` as the entry point has
    it), Ctrl-C while torch imports (held up, as on a loaded machine): the exit status and stderr."""
    code = (
        "import sys, time\n"
        "class SlowTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            print('importing torch', flush=True)\n"
        "            time.sleep(60)\n"
        "sys.meta_path.insert(0, SlowTorch())\n"
        f"sys.argv[0] = {argv0!r}\n"
        "from server.cli import main\n"
        "sys.exit(main(['--version']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=default_stop_signals,
    )
    try:
        assert proc.stdout.readline() == "importing torch\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err


def test_ctrl_c_while_starting_is_one_line_and_exit_130(tmp_path):
    assert interrupted_while_starting(tmp_path, "lossatlas") == (
        130,
        "lossatlas: interrupted while starting; nothing was done\n",
    )
    # imported by another program (an interactive session): its KeyboardInterrupt, not an exit
    code, err = interrupted_while_starting(tmp_path, "notebook.py")
    assert code != 130 and "KeyboardInterrupt" in err

    # once started, Ctrl-C is the commands' KeyboardInterrupt again (their own message, the partial file kept)
    code = (
        "import signal, sys\nsys.argv[0] = 'lossatlas'\nimport server.cli\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    )
    started = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, preexec_fn=default_stop_signals
    )
    assert started.stdout == "True\n"


@pytest.mark.parametrize(
    "first, then, changed",
    [
        (["--samples", "16"], [], "--samples 16 in the file, not given now"),
        (
            [],
            ["--x", "-1:1:5", "--norm", "layer"],
            "--norm filter in the file, layer now; --x -1:1:3 in the file, -1:1:5 now",
        ),
        (
            ["--hessian"],
            ["--hessian", "--hessian-steps", "7"],
            f"--hessian-steps {HessianSpec().max_steps} in the file, 7 now",
        ),
        ([], ["--dir-type", "states"], "--dir-type weights in the file, states now"),
        (
            [],
            ["--loss", "mse", "--mean", "0,0,0", "--std", "1,1,1"],
            "--loss ce in the file, mse now; --mean not given in the file, 0.0,0.0,0.0 now; --std not given in the file, 1.0,1.0,1.0 now",
        ),
        ([], ["--hessian"], "--hessian not given in the file, given now"),
    ],
)
def test_a_resume_with_other_options_names_them_as_given(tmp_path, tensors_npz, capsys, first, then, changed):
    out = tmp_path / "s.h5"
    assert main(compute_args(tensors_npz, out, *first)) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(compute_args(tensors_npz, out, *then))
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f"lossatlas compute: error: {out} was computed with other settings ({changed}); "
        "recompute it with --overwrite or choose another --out\n"
    )


def test_a_spec_refusal_names_the_option_not_the_field(tmp_path, tensors_npz, capsys):
    from independent import make_model

    ckpt = tmp_path / "t.pt"
    torch.save(make_model("tinycnn").state_dict(), ckpt)
    with pytest.raises(SystemExit) as e:
        main(compute_args(tensors_npz, tmp_path / "s.h5", "--target", str(ckpt), "--target-y", str(ckpt)))
    assert e.value.code == 2
    assert capsys.readouterr().err == "lossatlas compute: error: --target-y needs a 2-D grid (a y axis)\n"


@pytest.mark.parametrize("dataset, label", [("cifar10", "CIFAR-10"), ("mnist", "MNIST")])
def test_a_missing_torchvision_dataset_says_how_to_get_it_once(tmp_path, capsys, dataset, label):
    args = ["compute", "--model", "tinycnn", "--data", dataset, "--data-root", str(tmp_path / "none"), "--x", "0:0:1"]
    with pytest.raises(SystemExit) as e:
        main([*args, "--out", str(tmp_path / "s.h5")])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f"lossatlas compute: error: {label} not found under '{tmp_path / 'none'}': fetch it with --download "
        "(download=True) or give --data-root where it is\n"
    )
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "sig, status, word",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_or_sigterm_during_a_run_into_a_log_is_one_line_and_the_file_resumes(
    tmp_path, big_npz, sig, status, word
):
    """SIGTERM (``kill``, ``timeout``, a batch system's time limit) ended the run with no word, leaving its
    temporary file and its lock file: it stops as Ctrl-C does."""
    out = tmp_path / "s.h5"
    args = compute_args(big_npz, out)
    args[args.index("--x") + 1] = "-1:1:401"
    proc = lossatlas(*args, preexec_fn=default_stop_signals)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    lines = err.splitlines()
    assert lines[-1] == f"lossatlas compute: {word}; run the same command again to resume"
    assert "" not in lines and "\r" not in err  # no blank line, no terminal control in a log
    assert 0 < read_surface(out).done.sum() < 401
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([big_npz.name, "s.h5", "s.dirs.h5"])  # no .tmp, .lock


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # no "Exception ignored" either
def test_a_ctrl_c_python_drops_in_the_garbage_collector_stops_the_run_at_the_next_point(
    tmp_path, big_npz, capsys, python_sigint
):
    """Python drops a KeyboardInterrupt raised while the collector runs a callback ("Exception ignored in
    ..."): the run used to go on to its end (a CI failure of the test above)."""
    out = tmp_path / "s.h5"
    args = compute_args(big_npz, out)
    args[args.index("--x") + 1] = "-1:1:401"
    fired = []

    def ctrl_c_inside_the_collector(phase: str, info: dict) -> None:
        if phase == "start" and not fired and out.exists():
            fired.append(True)
            signal.raise_signal(signal.SIGINT)  # the handler runs here, in the callback
            sum(range(100))

    threshold = gc.get_threshold()
    gc.set_threshold(1)  # the collector runs at almost every allocation: at some point after the first write
    gc.callbacks.append(ctrl_c_inside_the_collector)
    try:
        with pytest.raises(SystemExit) as e:
            main(args)
    finally:
        gc.callbacks.remove(ctrl_c_inside_the_collector)
        gc.set_threshold(*threshold)
    assert fired
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "lossatlas compute: interrupted; run the same command again to resume"
    assert "Exception ignored" not in err and "Traceback" not in err
    assert 0 < read_surface(out).done.sum() < 401
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's own again


def test_a_path_along_a_line_shows_its_small_second_share_not_0_percent(tmp_path, tensors_npz, capsys):
    from independent import make_model

    run = tmp_path / "run"
    run.mkdir()
    base = make_model("tinycnn").state_dict()
    gen = torch.Generator().manual_seed(0)
    step = {k: 0.01 * torch.randn(v.shape, generator=gen) for k, v in base.items()}
    bend = {k: 1e-5 * torch.randn(v.shape, generator=gen) for k, v in base.items()}
    for i in range(3):  # a straight path but for a tiny bend at the middle checkpoint
        torch.save({k: v + i * step[k] + (i == 1) * bend[k] for k, v in base.items()}, run / f"epoch_{i}.pt")
    args = compute_args(tensors_npz, tmp_path / "s.h5", "--checkpoints", str(run), "--grid-num", "2")
    del args[args.index("--x") : args.index("--x") + 2]
    assert main(args) == 0
    shares = read_surface(tmp_path / "s.h5").trajectory.attrs["explained_variance_ratio_"]
    assert 0 < shares[1] < 5e-4  # a share that reads 0.0% with one decimal
    shown = re.search(r"PC1 (\S+)%, PC2 (\S+)%\)", capsys.readouterr().err)
    assert float(shown[2]) > 0 and float(shown[2]) == pytest.approx(100 * shares[1], rel=0.1)
    assert float(shown[1]) < 100 and float(shown[1]) == pytest.approx(100 * shares[0], abs=1e-3)


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_reader_gone_ends_a_command_quietly(tmp_path, tensors_npz, closed):
    """``lossatlas gallery list | head`` ended with "lossatlas gallery list: error: [Errno 32] Broken pipe" and
    exit status 2; a compute whose log reader was gone, with a traceback as Python exited. Now as other tools
    end: status 128 + SIGPIPE, no word."""
    if closed == "stdout":
        proc = lossatlas("gallery", "list")
    else:
        proc = lossatlas(*compute_args(tensors_npz, tmp_path / "s.h5"))
    getattr(proc, closed).close()  # before the command writes a thing (it imports torch first)
    err = "" if closed == "stderr" else proc.stderr.read()
    proc.wait(timeout=120)
    assert (proc.returncode, err) == (128 + signal.SIGPIPE, "")
