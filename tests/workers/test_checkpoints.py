"""Loading weights: wrappers, prefixes, strict matching, one-line errors; the paper's checkpoints."""

from __future__ import annotations

import io
import tarfile
import zipfile

import h5py
import numpy as np
import pytest
import torch
from independent import RESNET56_NOSHORT_T7, RESNET56_T7, make_model
from support import CIFAR10_JPEG

from workers import list_models
from workers.checkpoints import build_model, load_model, load_state_dict
from workers.cli import main

needs_paper_models = pytest.mark.skipif(
    not (RESNET56_T7.exists() and RESNET56_NOSHORT_T7.exists()), reason="../shared/models not available"
)
needs_jpeg_cifar = pytest.mark.skipif(not CIFAR10_JPEG.exists(), reason="../shared/data not available")


def assert_same_weights(model, source):
    want = source.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, want[k]), k


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"acc": 93.7, "epoch": 300, "state_dict": sd},  # the paper's .t7 layout
        lambda sd: {"model": sd, "optimizer": {}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},  # nn.DataParallel
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
    ],
    ids=["bare", "state_dict", "model", "module-prefix", "state_dict+prefix"],
)
def test_wrappers_and_prefixes_are_handled(tmp_path, wrap):
    source = make_model("tinycnn", seed=3)
    torch.save(wrap(source.state_dict()), tmp_path / "ck.pt")
    model = load_model("tinycnn", tmp_path / "ck.pt")
    assert not model.training
    assert_same_weights(model, source)


def test_checkpoint_of_another_model_gives_one_line_naming_the_keys(tmp_path):
    torch.save(make_model("resnet20").state_dict(), tmp_path / "r20.pt")
    with pytest.raises(ValueError) as e:
        load_model("tinycnn", tmp_path / "r20.pt")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"checkpoint '{tmp_path / 'r20.pt'}' does not fit model 'tinycnn': ")
    assert "missing: conv2.weight, bn2.weight, bn2.bias" in message
    assert "unexpected: layer1.0.conv1.weight" in message
    assert "wrong shape: conv1.weight (16, 3, 3, 3) vs (8, 3, 3, 3)" in message
    assert message.endswith("; it holds the weights of resnet20: choose that model")  # the fix


def test_a_checkpoint_that_fits_no_zoo_model_is_refused_naming_both_fixes(tmp_path):
    state = make_model("tinycnn").state_dict() | {"extra.weight": torch.zeros(3)}
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(ValueError) as e:
        load_model("tinycnn", tmp_path / "odd.pt")
    assert str(e.value) == (
        f"checkpoint '{tmp_path / 'odd.pt'}' does not fit model 'tinycnn': 1 unexpected: extra.weight; give a "
        "checkpoint of tinycnn, or choose the model it was saved from"
    )
    torch.save(make_model("tinycnn").state_dict(), tmp_path / "tiny.pt")
    rng = torch.get_rng_state()
    with pytest.raises(ValueError, match="; it holds the weights of tinycnn: choose that model$"):
        load_model("resnet20", tmp_path / "tiny.pt")
    assert torch.equal(torch.get_rng_state(), rng)  # looking through the zoo drew no random number


def test_unreadable_checkpoints_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_state_dict(tmp_path / "nothing.pt")
    torch.save({"acc": 1.0, "epoch": 3}, tmp_path / "meta.pt")
    with pytest.raises(ValueError, match="holds no state dict of tensors"):
        load_state_dict(tmp_path / "meta.pt")
    torch.save({"w": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pt")  # a pickled module: code, not weights
    with pytest.raises(
        ValueError,
        match=r"is not a weights file torch can load safely \(it holds pickled objects, "
        r"not only tensors\); pass a file saved with torch.save\(model.state_dict\(\)\)",
    ) as e:
        load_state_dict(tmp_path / "pickled.pt")
    assert "\n" not in str(e.value)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match=r"checkpoint .*text.pt' is not a weights file torch can load safely \("):
        load_state_dict(tmp_path / "text.pt")


SAVE_HINT = "pass a file saved with torch.save(model.state_dict())"


def test_a_surface_file_or_a_cut_short_checkpoint_is_named_as_such(tmp_path):
    """An HDF5 file given as a checkpoint used to be refused as "it holds pickled objects", a truncated
    one with torch's message cut mid-word ("This is an internal mini"). Each now gets a whole line that
    says what the file is."""
    with h5py.File(tmp_path / "surface.h5", "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
    with pytest.raises(ValueError) as e:
        load_state_dict(tmp_path / "surface.h5")
    assert str(e.value) == (
        f"checkpoint '{tmp_path / 'surface.h5'}' is an HDF5 file (a loss surface or direction file?), "
        f"not a PyTorch checkpoint; {SAVE_HINT}"
    )
    torch.save(make_model().state_dict(), tmp_path / "whole.pt")
    whole = (tmp_path / "whole.pt").read_bytes()
    for size in (10, 100, len(whole) // 2, len(whole) - 1):
        (tmp_path / "cut.pt").write_bytes(whole[:size])
        with pytest.raises(ValueError) as e:
            load_state_dict(tmp_path / "cut.pt")
        assert str(e.value) == (
            f"checkpoint '{tmp_path / 'cut.pt'}' is truncated or damaged: it starts as a PyTorch checkpoint but "
            "its archive does not end properly; copy the whole file again"
        ), size
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as z:  # a whole zip archive, not torch's
        z.writestr("notes.txt", "hello")
    with pytest.raises(ValueError) as e:
        load_state_dict(tmp_path / "notes.zip")
    assert str(e.value) == (
        f"checkpoint '{tmp_path / 'notes.zip'}' is damaged or not a PyTorch checkpoint (a zip archive torch "
        f"cannot read); {SAVE_HINT}"
    )


def test_models_without_checkpoint_are_the_same_in_every_process():
    a, b = load_model("resnet20", None), load_model("resnet20", None)
    assert_same_weights(a, b)
    torch.manual_seed(123)  # the global RNG plays no part
    assert_same_weights(load_model("resnet20", None), a)


def test_user_models_by_module_and_function():
    model = build_model("workers.zoo.small:tinycnn_mnist")
    assert model.conv1.in_channels == 1
    with pytest.raises(ValueError, match="cannot import model 'no_such_pkg.models:net'"):
        build_model("no_such_pkg.models:net")
    with pytest.raises(ValueError, match="returned dict, not an nn.Module"):
        build_model("builtins:dict")
    with pytest.raises(ValueError, match="unknown model 'nope': use a zoo name \\(.*resnet56.*\\)"):
        build_model("nope")


@pytest.mark.parametrize(
    "name, guess",
    [
        ("tinycnnn", "tinycnn"),  # a letter doubled
        ("tinycn", "tinycnn"),  # left out
        ("resnet57", "resnet56"),  # changed
        ("ResNet56", "resnet56"),  # capitals
        ("resnet56noshort", "resnet56_noshort"),
        ("resnet2", None),  # resnet20 or resnet32?
        ("resnet18", None),  # another model, not resnet110
        ("resnet", None),
        ("mlp", None),
    ],
)
def test_a_mistyped_zoo_name_gets_a_guess(name, guess, capsys, tmp_path):
    zoo = ", ".join(list_models())
    hint = f" (did you mean {guess}?)" if guess else ""
    with pytest.raises(ValueError) as e:
        build_model(name)
    assert str(e.value) == f"unknown model {name!r}{hint}: use a zoo name ({zoo}) or 'package.module:function'"
    with pytest.raises(SystemExit) as ended:  # the command line says the same in one line
        main(["compute", "--model", name, "--data", "tensors", "--x=-1:1:3", "--out", str(tmp_path / "s.h5")])
    assert ended.value.code == 2
    assert capsys.readouterr().err == f"lossatlas compute: error: {e.value}\n"
    assert not any(tmp_path.iterdir())


@needs_paper_models
@pytest.mark.parametrize("name, path", [("resnet56", RESNET56_T7), ("resnet56_noshort", RESNET56_NOSHORT_T7)])
def test_paper_checkpoints_load_strictly(name, path):
    model = load_model(name, path)  # strict key matching
    raw = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    state = model.state_dict()
    assert set(raw) <= set(state)
    assert {k for k in state if k not in raw} <= {k for k in state if k.endswith("num_batches_tracked")}
    for k, v in raw.items():
        assert torch.equal(state[k], v), k


def jpeg_test_sample(every: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``every``-th test image of the JPEG CIFAR-10 archive, decoded with PIL, normalized with
    the paper's constants (no engine code involved)."""
    from PIL import Image

    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    images, labels, seen = [], [], 0
    with tarfile.open(CIFAR10_JPEG) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or parts[-3] != "test":
                if images and parts[1] == "train":
                    break
                continue
            if seen % every == 0:
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:
                    images.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255)
                labels.append(classes.index(parts[-2]))
            seen += 1
    mean, std = np.array([125.3, 123.0, 113.9]) / 255, np.array([63.0, 62.1, 66.7]) / 255
    x = ((np.stack(images) - mean) / std).transpose(0, 3, 1, 2)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(labels)


@needs_paper_models
@needs_jpeg_cifar
def test_paper_checkpoints_classify_the_jpeg_test_images():
    x, y = jpeg_test_sample()
    assert len(y) == 200 and torch.bincount(y).tolist() == [20] * 10
    for name, path, least in (("resnet56", RESNET56_T7, 70.0), ("resnet56_noshort", RESNET56_NOSHORT_T7, 60.0)):
        model = load_model(name, path)
        with torch.no_grad():
            acc = 100.0 * (model(x).argmax(1) == y).float().mean().item()
        assert acc >= least, f"{name}: {acc:.1f}% on 200 JPEG test images (about 84% / 76% expected)"
