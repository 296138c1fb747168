"""A user's own model: ``--model pkg.module:function`` found from the current directory, ``--model-args``
passed to it and stored in the recipe (#16)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runs import compute_args
from test_compute_cli import lossatlas

from workers.checkpoints import build_model
from workers.h5io import read_surface
from workers.usermodels import parse_model_args

MLP = textwrap.dedent("""
    import torch.nn as nn

    def make_mlp(hidden: int = 16, act: str = "relu"):
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, hidden),
                             nn.ReLU() if act == "relu" else nn.Tanh(), nn.Linear(hidden, 10))
""")


def write_package(root: Path, name: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "mlp.py").write_text(MLP)


@pytest.fixture
def cwd_only_path(tmp_path, monkeypatch):
    """The test's directory is the current one and not on sys.path (as under the ``lossatlas`` script)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path), os.getcwd())])
    return tmp_path


def test_model_module_is_found_in_the_current_directory(cwd_only_path):
    write_package(cwd_only_path, "usermods_a")
    model = build_model("usermods_a.mlp:make_mlp", {"hidden": 7, "act": "tanh"})
    assert model[1].out_features == 7 and type(model[2]).__name__ == "Tanh"
    sys.modules.pop("usermods_a.mlp"), sys.modules.pop("usermods_a")


def test_missing_model_module_says_where_it_looked(cwd_only_path):
    with pytest.raises(ValueError) as e:
        build_model("usermods_nowhere.mlp:make_mlp")
    assert str(e.value) == (
        "cannot import model 'usermods_nowhere.mlp:make_mlp': No module named 'usermods_nowhere', neither from "
        f"the current directory {cwd_only_path} nor from sys.path; run lossatlas from the directory that holds "
        "usermods_nowhere/ or usermods_nowhere.py, or add that directory to PYTHONPATH"
    )


def test_wrong_model_arguments_are_one_line(cwd_only_path):
    write_package(cwd_only_path, "usermods_b")
    with pytest.raises(
        ValueError,
        match=r"model 'usermods_b.mlp:make_mlp' does not take the arguments "
        r"\{\"width\": 3\}: got an unexpected keyword argument 'width'",
    ):
        build_model("usermods_b.mlp:make_mlp", {"width": 3})
    with pytest.raises(ValueError, match="zoo model 'tinycnn' does not take the arguments"):
        build_model("tinycnn", {"width": 3})


@pytest.mark.parametrize(
    "items, expected",
    [
        ([], None),
        (['{"hidden": 256, "act": "tanh"}'], {"hidden": 256, "act": "tanh"}),
        (
            ["hidden=256,act=tanh,p=0.5,bias=false,sizes=[1,2]"],
            {"hidden": 256, "act": "tanh", "p": 0.5, "bias": False, "sizes": [1, 2]},
        ),
        (['{"hidden": 1}', "hidden=2"], {"hidden": 2}),  # later values win
    ],
)
def test_model_args_parse(items, expected):
    assert parse_model_args(items) == expected


@pytest.mark.parametrize(
    "item, message",
    [
        ("hidden", "--model-args 'hidden': give key=value pairs"),
        ("{hidden: 1}", "--model-args '{hidden: 1}' is not a JSON object"),
        ("[1, 2]", "give key=value pairs"),
    ],
)
def test_bad_model_args_are_refused(item, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("[", r"\[")):
        parse_model_args([item])


def test_cli_computes_a_user_model_with_arguments_and_refuses_others_on_resume(tmp_path, tensors_npz):
    """Run as a user would: the ``lossatlas`` script from the directory holding the package."""
    write_package(tmp_path, "usermods_cli")
    out = tmp_path / "s.h5"
    args = compute_args(tensors_npz, out)
    args[args.index("tinycnn")] = "usermods_cli.mlp:make_mlp"
    env_path = os.environ.get("PYTHONPATH", "")
    assert str(tmp_path) not in env_path
    proc = lossatlas(*args, "--model-args", "hidden=5", cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    recipe = read_surface(out).recipe
    assert recipe["spec"]["model_args"] == {"hidden": 5}
    assert recipe["model_params"] == 3 * 8 * 8 * 5 + 5 + 5 * 10 + 10  # an MLP of hidden width 5

    proc = lossatlas(*args, "--model-args", '{"hidden": 6}', cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    last = err.strip().splitlines()[-1]
    assert "was computed with other settings" in last and "--model-args hidden: 5 in the file, 6 now" in last
    assert json.loads(json.dumps(read_surface(out).recipe)) == recipe  # unchanged
