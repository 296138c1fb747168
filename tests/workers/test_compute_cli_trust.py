"""``lossatlas compute`` never resumes a file from changed inputs, and every bad input gets one line, exit
status 2 and no file left behind (#8)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runs import compute_args, refusal
from independent import plain_metrics
from support import REPO

from workers import read_surface
from workers.checkpoints import INIT_SEED
from workers.cli import main

USER_MODEL = """
import torch.nn as nn


def net():
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))
"""


def run_cli(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command in a subprocess: the user's module importable from ``tmp_path``, no bytecode
    cache (an edit of the same size within a second would otherwise run the old code)."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)]),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def last_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def user_model(path: Path) -> torch.nn.Module:
    """The user's model built as the engine builds it (seeded), from the file as it is now."""
    spec = importlib.util.spec_from_file_location(f"usermodel_{os.urandom(4).hex()}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return module.net().eval()


def test_edited_model_code_is_caught_by_the_canary_and_overwrite_recomputes(tmp_path, tensors_npz):
    (tmp_path / "usermodel.py").write_text(USER_MODEL)
    args = compute_args(tensors_npz, "s.h5", model="usermodel:net")
    first = run_cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    (tmp_path / "usermodel.py").write_text(USER_MODEL.replace("nn.ReLU()", "nn.Tanh()"))
    before = files(tmp_path)

    refused = run_cli(tmp_path, *args)
    assert refused.returncode == 2
    line = last_line(refused)
    assert line.startswith(
        "lossatlas compute: error: s.h5 was computed by other model code or software: the canary point x=0 "
    )
    assert line.endswith("recompute it with --overwrite or choose another --out")
    assert files(tmp_path) == before

    redone = run_cli(tmp_path, *args, "--overwrite")
    assert redone.returncode == 0, redone.stderr
    x, y = (torch.from_numpy(np.load(tensors_npz)[k]) for k in ("x_train", "y_train"))
    loss, acc = plain_metrics(user_model(tmp_path / "usermodel.py"), x, y)  # the Tanh model, independently
    s = read_surface(tmp_path / "s.h5")
    np.testing.assert_allclose(s.metrics["train_loss"][1], loss, rtol=1e-6)
    assert s.metrics["train_acc"][1] == pytest.approx(acc)


def test_a_replaced_tensors_file_is_refused_and_overwrite_recomputes(tmp_path, tensors_npz, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = compute_args(tensors_npz, "s.h5")
    assert main(args) == 0
    blob = dict(np.load(tensors_npz))
    blob["x_train"] = blob["x_train"][::-1].copy()  # the same samples in another order, other labels beside them
    np.savez(tensors_npz, **blob)
    before = files(tmp_path)

    capsys.readouterr()
    line = refusal(capsys, args)
    assert line.startswith(
        "lossatlas compute: error: s.h5 was computed on other data (train: 40 samples of 3x8x8, sha256 "
    )
    assert line.endswith("recompute it with --overwrite or choose another --out")
    assert files(tmp_path) == before

    assert main([*args, "--overwrite"]) == 0
    assert main(compute_args(tensors_npz, "fresh.h5")) == 0
    np.testing.assert_array_equal(
        read_surface(tmp_path / "s.h5").metrics["train_loss"], read_surface(tmp_path / "fresh.h5").metrics["train_loss"]
    )


@pytest.fixture
def bad_inputs(tmp_path, tensors_npz) -> Path:
    """A working directory with the files the bad runs point at."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.pt").write_text("these are not weights\n")
    gen = torch.Generator().manual_seed(0)
    np.savez(work / "gray.npz", x=torch.randn(10, 1, 8, 8, generator=gen).numpy(), y=np.zeros(10, dtype=np.int64))
    whole = tensors_npz.read_bytes()
    (work / "cut.npz").write_bytes(whole[: len(whole) // 2])  # a copy interrupted halfway
    return work


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--device", "gpu"], "device 'gpu' is not one of cpu, cuda; use --device cuda for a GPU"),
        (["--checkpoint", "notes.pt"], "checkpoint 'notes.pt' is not a weights file torch can load safely ("),
        (["--data-root", "gray.npz"], "the train samples (shape (1, 8, 8)) do not fit model 'tinycnn' ("),
        (
            ["--data-root", "cut.npz"],
            "tensors file cut.npz cannot be read (BadZipFile: File is not a zip file); save the arrays with "
            "numpy.savez(path, x=..., y=...) or the tensors with torch.save({'x': ..., 'y': ...}, path)",
        ),
        (["--data-root", "notes.pt"], "tensors file notes.pt cannot be read ("),
        (["--out", "notes.pt"], "file signature not found)); choose another --out, or add --overwrite to replace it"),
        (
            ["--out", "cut.npz"],
            "cut.npz is not an HDF5 file (Unable to synchronously open file (file signature not found)); choose",
        ),
        (
            ["--out", "nodir/d.h5"],
            "the directory of --out nodir/d.h5 does not exist; create nodir first or choose another --out",
        ),
    ],
)
def test_bad_inputs_get_one_line_exit_2_and_leave_no_file(bad_inputs, tensors_npz, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(bad_inputs)
    args = compute_args(tensors_npz, "s.h5")
    for option, value in zip(extra[::2], extra[1::2]):
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    before = files(bad_inputs)
    line = refusal(capsys, args)
    assert line.startswith("lossatlas compute: error: ") and message in line and ".tmp" not in line, line
    assert files(bad_inputs) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_one_line(tmp_path, tensors_npz, capsys):
    assert refusal(capsys, compute_args(tensors_npz, str(tmp_path / "s.h5"), "--device", "cuda")) == (
        "lossatlas compute: error: device 'cuda' asked for but torch sees no CUDA GPU; use --device cpu"
    )
    assert list(tmp_path.iterdir()) == [tensors_npz]


@pytest.mark.parametrize(
    "command",
    [
        ["compute", "--samples", "8", "--x", "-1:1:3", "--out", "s.h5"],
        ["train", "--epochs", "1", "--out", "run"],  # train had no --download, though its error told of one
    ],
)
def test_download_without_network_is_one_line_and_leaves_nothing(tmp_path, command):
    """No network: every proxy points at a closed local port, so the download fails at once."""
    closed = "http://127.0.0.1:9"
    env = {
        "LOSSATLAS_CACHE": str(tmp_path / "cache"),
        "no_proxy": "",
        "NO_PROXY": "",
        **{k: closed for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")},
    }
    proc = run_cli(tmp_path, command[0], "--model", "tinycnn", "--download", *command[1:], env=env)
    assert proc.returncode == 2
    line = last_line(proc)
    assert line.startswith(f"lossatlas {command[0]}: error: cannot download CIFAR-10 (")
    assert line.endswith(
        "check the network, or put the dataset under "
        f"'{tmp_path / 'cache' / 'torchvision'}' (--data-root) and run without --download"
    )
    assert list(tmp_path.iterdir()) == []
