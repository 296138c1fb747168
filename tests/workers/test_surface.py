"""compute_surface against independent computations: the centre, every grid point, scale invariance,
resuming, and refusing files made with other settings."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from independent import make_model, perturbed, plain_metrics, read_direction_file, write_reference_directions

from workers import SurfaceSpec, compute_surface, read_surface
from workers.grid import coarse_to_fine


def spec(**kwargs) -> SurfaceSpec:
    base = dict(model="tinycnn", dataset="tensors", batch_size=16, x="-1:1:3", y="-1:1:3")
    return SurfaceSpec(**{**base, **kwargs})


def test_centre_is_the_models_plain_loss_and_accuracy(tmp_path, model, data):
    before = copy.deepcopy(model.state_dict())
    s = compute_surface(spec(split="both"), tmp_path / "s.h5", model=model, data=data)
    assert s.is_complete and s.shape == (3, 3)
    for split, (x, y) in data.items():
        loss, acc = plain_metrics(model, x, y)
        np.testing.assert_allclose(s.metrics[f"{split}_loss"][1, 1], loss, rtol=1e-6)
        assert s.metrics[f"{split}_acc"][1, 1] == pytest.approx(acc)
    for k, v in model.state_dict().items():  # the caller's model is left alone
        assert torch.equal(v, before[k]), k


def test_every_point_of_a_non_square_grid_is_the_hand_built_perturbed_model(tmp_path, model, data):
    out = tmp_path / "s.h5"
    s = compute_surface(spec(x="-1:0.5:4", y="0:1:3", split="both"), out, model=model, data=data)
    dirs = read_direction_file(tmp_path / "s.dirs.h5")
    xs, ys = np.linspace(-1, 0.5, 4), np.linspace(0, 1, 3)
    np.testing.assert_array_equal(s.xcoordinates, xs)
    np.testing.assert_array_equal(s.ycoordinates, ys)
    assert s.shape == (3, 4)
    for iy, yv in enumerate(ys):
        for ix, xv in enumerate(xs):
            moved = perturbed(model, dirs, (xv, yv))
            for split, (x, y) in data.items():
                loss, acc = plain_metrics(moved, x, y)
                np.testing.assert_allclose(s.metrics[f"{split}_loss"][iy, ix], loss, rtol=1e-6, err_msg=f"{ix},{iy}")
                assert s.metrics[f"{split}_acc"][iy, ix] == pytest.approx(acc)
    assert read_surface(out).metrics["train_loss"].tolist() == s.metrics["train_loss"].tolist()


def test_one_dimensional_surface_and_the_mse_loss(tmp_path, model, data):
    s = compute_surface(spec(x="-0.5:1:4", y=None, loss="mse"), tmp_path / "s.h5", model=model, data=data)
    assert s.shape == (4,) and s.ycoordinates is None
    dirs = read_direction_file(tmp_path / "s.dirs.h5")
    assert len(dirs) == 1
    for ix, xv in enumerate(np.linspace(-0.5, 1, 4)):
        loss, acc = plain_metrics(perturbed(model, dirs, (xv,)), *data["train"], loss="mse")
        np.testing.assert_allclose(s.metrics["train_loss"][ix], loss, rtol=1e-6)
        assert s.metrics["train_acc"][ix] == pytest.approx(acc)


@pytest.mark.parametrize("dir_type", [None, "states", "weights"])
def test_target_direction_reaches_the_target_model(tmp_path, model, data, dir_type):
    """By default (#8) the states move, BN running statistics included: x = 1 is the target model."""
    target = make_model("tinycnn", seed=5)
    torch.save(target.state_dict(), tmp_path / "target.pt")
    directions = {"kind": "target", "target": str(tmp_path / "target.pt")}
    if dir_type is not None:
        directions["dir_type"] = dir_type
    s = compute_surface(spec(x="0:1:3", y=None, directions=directions), tmp_path / "s.h5", model=model, data=data)
    assert s.recipe["spec"]["directions"]["dir_type"] == (dir_type or "states")
    if dir_type == "weights":  # the old choice, labelled: BN running statistics stay the model's
        assert s.recipe["interpolation"].startswith("parameters only")
        hybrid = copy.deepcopy(target)
        for name in ("running_mean", "running_var"):
            for bn in ("bn1", "bn2"):
                getattr(hybrid, bn).register_buffer(name, getattr(getattr(model, bn), name).clone())
        target = hybrid
    else:
        assert "x = 1 is exactly the target model" in s.recipe["interpolation"]
    for ix, m in ((0, model), (2, target)):
        loss, acc = plain_metrics(m, *data["train"])
        np.testing.assert_allclose(s.metrics["train_loss"][ix], loss, rtol=1e-5)
        assert s.metrics["train_acc"][ix] == pytest.approx(acc)
    assert len(s.recipe["target_sha256"]) == 64


def variances_grown_and_shrunk(model: nn.Module, tmp_path: Path) -> dict:
    """An interpolation to ``model`` with its BatchNorm running variances grown (x 3.1) and shrunk (x 0.3):
    independently, a grown variance v (1 + 2.1 x) is negative below x = -1/2.1, a shrunk one v (1 - 0.7 x)
    above x = 1/0.7 (the model's variances are positive)."""
    target = copy.deepcopy(model)
    with torch.no_grad():
        for bn in (target.bn1, target.bn2):
            bn.running_var[::2] *= 3.1
            bn.running_var[1::2] *= 0.3
    torch.save(target.state_dict(), tmp_path / "target.pt")
    return {"kind": "target", "target": str(tmp_path / "target.pt")}


def test_points_past_an_interpolations_ends_whose_running_variances_turn_negative_are_named_before(
    tmp_path, model, data
):
    """``states`` directions extrapolate BatchNorm running variances linearly: past the ends some turn
    negative and the loss is NaN there. The engine says so before computing, and exactly those points are NaN."""
    directions = variances_grown_and_shrunk(model, tmp_path)
    xs = np.linspace(-1, 2, 13)
    expected = (xs < -1 / 2.1) | (xs > 1 / 0.7)
    with pytest.warns(UserWarning, match=r"^6 of 13 grid points move a BatchNorm running variance below zero "):
        s = compute_surface(spec(x="-1:2:13", y=None, directions=directions), tmp_path / "s.h5", model=model, data=data)
    np.testing.assert_array_equal(np.isnan(s.metrics["train_loss"]), expected)
    np.testing.assert_array_equal(np.isnan(s.metrics["train_acc"]), expected)  # no prediction: no accuracy
    assert s.attrs["negative_variance_points"] == expected.sum() == 6
    assert read_surface(tmp_path / "s.h5").attrs["negative_variance_points"] == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # parameters only: nothing is NaN, nothing said
        w = compute_surface(
            spec(x="-1:2:13", y=None, directions=directions | {"dir_type": "weights"}), model=model, data=data
        )
    assert not np.isnan(w.metrics["train_loss"]).any() and w.attrs["negative_variance_points"] == 0


def test_every_metric_is_nan_where_a_running_variance_turns_negative_and_the_warning_names_each(model, data, tmp_path):
    """The warning said "the loss there is NaN": the accuracies are NaN too, and the Hessian's eigenvalues,
    whose computation failed there ("Eigenvalues did not converge": the whole surface was lost)."""
    directions = variances_grown_and_shrunk(model, tmp_path)
    xs = np.linspace(-1, 2, 7)
    expected = (xs < -1 / 2.1) | (xs > 1 / 0.7)
    fields = dict(x="-1:2:7", y=None, split="both", directions=directions, hessian={"params": "reference"})
    with pytest.warns(UserWarning) as said:
        s = compute_surface(spec(**fields), model=model, data=data)
    assert [str(w.message) for w in said] == [
        "4 of 7 grid points move a BatchNorm running variance below zero (every x outside [0, 1]): train_loss, "
        "train_acc, test_loss, test_acc, max_eig and min_eig are NaN there; dir_type weights keeps the model's "
        "running statistics"
    ]
    assert sorted(s.metrics) == sorted(["train_loss", "train_acc", "test_loss", "test_acc", "max_eig", "min_eig"])
    for name, values in s.metrics.items():
        np.testing.assert_array_equal(np.isnan(values), expected, err_msg=name)
    assert s.done.all()


class MLP(nn.Module):
    """linear-ReLU-linear-ReLU-linear, no BatchNorm: scale invariance through ReLU's homogeneity."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(192, 32), nn.Linear(32, 24), nn.Linear(24, 10)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x.flatten(1))))))


def rescaled_bn(model: nn.Module, c: float) -> nn.Module:
    """conv1 * c with bn1's running mean * c and variance * c**2: the same function (bn1.eps is 0)."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.conv1.weight.mul_(c)
        out.bn1.running_mean.mul_(c)
        out.bn1.running_var.mul_(c * c)
    return out


def rescaled_relu(model: MLP, c: float) -> MLP:
    """fc1 (weight and bias) * c, fc2's weight / c: relu(c z) = c relu(z), so the same function."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.fc1.weight.mul_(c)
        out.fc1.bias.mul_(c)
        out.fc2.weight.div_(c)
    return out


@pytest.mark.parametrize("kind", ["conv+bn", "relu"])
def test_filter_normalized_surface_is_scale_invariant_and_unnormalized_is_not(model, data, kind):
    if kind == "conv+bn":
        model.bn1.eps = 0.0  # so that the rescaled BN is exactly the same function
        base, scaled = model, rescaled_bn(model, 10.0)
    else:
        torch.manual_seed(0)
        base = MLP().eval()
        scaled = rescaled_relu(base, 10.0)
    x = data["train"][0]
    with torch.no_grad():  # the premise: the two models compute the same function
        torch.testing.assert_close(scaled(x), base(x), rtol=1e-5, atol=1e-5)
    surfaces = {}
    for norm in ("filter", "none"):
        sp = spec(model="custom", x="-1:1:5", y="-1:1:5", directions={"norm": norm, "seed": 3})
        surfaces[norm] = [compute_surface(sp, model=m, data=data).metrics["train_loss"] for m in (base, scaled)]
    a, b = surfaces["filter"]
    np.testing.assert_allclose(b, a, rtol=1e-5)
    a, b = surfaces["none"]
    assert np.abs(b - a).max() > 100 * 1e-5 * np.abs(a).max()
    assert np.abs(a - a[2, 2]).max() > 1e-3  # the surface is not flat: the comparison means something


def test_resume_computes_only_the_missing_points_and_ends_equal(tmp_path, model, data):
    sp = spec(x="-1:1:5", y="-0.5:0.5:4", split="both")
    whole = compute_surface(sp, tmp_path / "whole.h5", model=model, data=data)
    out = tmp_path / "part.h5"
    first: list = []
    compute_surface(sp, out, model=model, data=data, progress=first.append, should_stop=lambda: len(first) >= 7)
    partial = read_surface(out)
    assert len(first) == 7 and first[-1].done == 7 and first[-1].computed == 7 and first[-1].total == 20
    order = np.concatenate(coarse_to_fine(5, 4))
    assert set(np.flatnonzero(partial.done.ravel()).tolist()) == set(order[:7].tolist())  # coarse first
    assert np.isnan(partial.metrics["train_loss"][~partial.done]).all()
    assert "landscape_stats" not in partial.attrs
    missing = {(ix, iy) for iy, ix in zip(*np.nonzero(~partial.done))}
    second: list = []
    resumed = compute_surface(sp, out, model=model, data=data, progress=second.append)
    assert [p.computed for p in second] == list(range(1, 14))
    assert {(ix, iy) for p in second for ix, iy, _ in p.new} == missing
    assert second[-1].done == 20 and second[-1].eta == 0
    final = read_surface(out)
    for s in (resumed, final):
        assert s.done.all()
        for name in sp.metrics:
            np.testing.assert_array_equal(s.metrics[name], whole.metrics[name])
    assert final.attrs["landscape_stats"] == read_surface(tmp_path / "whole.h5").attrs["landscape_stats"]
    third: list = []
    compute_surface(sp, out, model=model, data=data, progress=third.append)  # finished: nothing to do
    assert third == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"directions": {"seed": 1}}, "directions.seed: 0 in the file, 1 now"),
        ({"x": "-1:1:4"}, "x: -1:1:3 in the file, -1:1:4 now"),
        ({"split": "test"}, "split: 'train' in the file, 'test' now"),
        ({"batch_size": 8}, "batch_size: 16 in the file, 8 now"),
    ],
)
def test_other_settings_against_an_existing_file_are_refused(tmp_path, model, data, change, field):
    out = tmp_path / "s.h5"
    compute_surface(spec(), out, model=model, data=data)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="s.h5 was computed with other settings") as e:
        compute_surface(spec(**change), out, model=model, data=data)
    assert f"with other settings ({field});" in str(e.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_another_model_against_an_existing_file_is_refused(tmp_path, model, data):
    out = tmp_path / "s.h5"
    compute_surface(spec(), out, model=model, data=data)
    with pytest.raises(ValueError, match="model_params"):
        compute_surface(spec(), out, model=make_model("resnet20"), data=data)


def test_reference_direction_file_gives_the_same_surface(tmp_path, model, data):
    ours = compute_surface(spec(), tmp_path / "ours.h5", model=model, data=data)
    write_reference_directions(tmp_path / "ref.dirs.h5", read_direction_file(tmp_path / "ours.dirs.h5"))
    theirs = compute_surface(
        spec(dir_file=str(tmp_path / "ref.dirs.h5")), tmp_path / "theirs.h5", model=model, data=data
    )
    np.testing.assert_array_equal(theirs.metrics["train_loss"], ours.metrics["train_loss"])
    assert theirs.recipe["dir_file_sha256"]


def test_direction_file_of_another_model_is_refused(tmp_path, model, data):
    compute_surface(
        spec(model="resnet20"),
        tmp_path / "r.h5",
        model=make_model("resnet20"),
        data={"train": (torch.randn(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))},
    )
    with pytest.raises(
        ValueError, match="weight 3 is 'layer1.0.conv1.weight' in the file but 'conv2.weight' in the model"
    ):
        compute_surface(spec(dir_file=str(tmp_path / "r.dirs.h5")), tmp_path / "s.h5", model=model, data=data)
    assert not (tmp_path / "s.h5").exists()


def test_reference_surface_files_are_not_overwritten(tmp_path, model, data):
    from independent import write_reference_surface

    out = tmp_path / "ref.h5"
    write_reference_surface(out, np.linspace(-1, 1, 3), np.linspace(-1, 1, 3), {"train_loss": -np.ones((3, 3))})
    before = out.read_bytes()
    with pytest.raises(ValueError, match="was not written by lossatlas"):
        compute_surface(spec(), out, model=model, data=data)
    assert out.read_bytes() == before


def test_missing_split_and_unavailable_device_are_refused(model, data):
    with pytest.raises(ValueError, match="data lacks the split test"):
        compute_surface(spec(split="test"), model=model, data={"train": data["train"]})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' asked for but torch sees no CUDA GPU"):
            compute_surface(spec(), model=model, data=data, device="cuda")
    with pytest.raises(ValueError, match="device 'cudax' is not one of cpu, cuda"):  # a Ray GPU: the name is checked
        compute_surface(spec(), model=model, data=data, device="cudax", ray="auto")


def test_complete_surface_carries_its_statistics_and_provenance(tmp_path, model, data):
    s = compute_surface(spec(x="-1:1:5", y="-1:1:5"), tmp_path / "s.h5", model=model, data=data)
    back = read_surface(tmp_path / "s.h5")
    stats = back.attrs["landscape_stats"]
    xx, yy = np.meshgrid(s.xcoordinates[1:-1], s.ycoordinates[1:-1])  # interior points in the disc
    assert stats["metric"] == "train_loss" and stats["points"] == int((xx**2 + yy**2 <= 0.5**2).sum()) == 5
    assert back.attrs["torch_version"] == torch.__version__ and back.attrs["elapsed_s"] > 0
    assert back.recipe["model_params"] == sum(p.numel() for p in model.parameters())
    assert back.recipe["dataset_label"] == "in-memory tensors"
    assert back.recipe["spec"] == s.recipe["spec"] and back.dir_file == "s.dirs.h5"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_gpu_surface_equals_the_cpu_surface(model, data):
    sp = spec(split="both")
    cpu = compute_surface(sp, model=model, data=data)
    gpu_data = {k: (x.cuda(), y.cuda()) for k, (x, y) in data.items()}
    gpu = compute_surface(sp, model=model, data=gpu_data, device="cuda")
    assert gpu.attrs["device"].startswith("cuda")
    for name in sp.metrics:
        np.testing.assert_allclose(gpu.metrics[name], cpu.metrics[name], rtol=1e-4, atol=1e-5)


def test_a_dataset_in_memory_gives_the_same_surface_as_its_tensors(tmp_path, model, data):
    from torch.utils.data import TensorDataset

    as_tensors = compute_surface(spec(split="both"), model=model, data=data)
    as_dataset = compute_surface(spec(split="both"), model=model, data={k: TensorDataset(*v) for k, v in data.items()})
    for name in as_tensors.metrics:
        np.testing.assert_array_equal(as_tensors.metrics[name], as_dataset.metrics[name])
    with pytest.raises(ValueError, match="dataset of pairs"):
        compute_surface(spec(), model=model, data={"train": 42})


def test_resume_regenerates_missing_directions_and_refuses_other_ones(tmp_path, model, data):
    out = tmp_path / "s.h5"
    full = compute_surface(spec(), out, model=model, data=data)
    partial = read_surface(out)
    partial.done[1:, :] = False
    from workers.h5io import write_surface

    write_surface(out, partial)
    (tmp_path / "s.dirs.h5").unlink()  # the seed makes the same directions again
    resumed = compute_surface(spec(), out, model=model, data=data)
    np.testing.assert_array_equal(resumed.metrics["train_loss"], full.metrics["train_loss"])

    write_surface(out, partial)
    other = compute_surface(spec(directions={"seed": 1}), tmp_path / "other.h5", model=model, data=data)
    assert other.is_complete
    (tmp_path / "other.dirs.h5").replace(tmp_path / "s.dirs.h5")
    before = out.read_bytes()
    with pytest.raises(ValueError, match="directions .* differ"):
        compute_surface(spec(), out, model=model, data=data)
    assert out.read_bytes() == before


def test_a_direction_file_left_without_its_surface_is_not_replaced_by_other_directions(tmp_path, model, data):
    """Other surfaces may name ``s.dirs.h5`` as their dir_file after ``s.h5`` is gone: the same directions
    again (the same seed) are fine and leave it as it is; other ones are refused unless overwrite is asked."""
    out, dirs = tmp_path / "s.h5", tmp_path / "s.dirs.h5"
    compute_surface(spec(), out, model=model, data=data)
    kept = dirs.read_bytes()
    reused = compute_surface(spec(dir_file=str(dirs)), tmp_path / "reused.h5", model=model, data=data)
    out.unlink()
    with pytest.raises(ValueError, match="holds other directions .* --dir-file .* --overwrite"):
        compute_surface(spec(directions={"seed": 7}), out, model=model, data=data)
    assert dirs.read_bytes() == kept and not out.exists()
    again = compute_surface(spec(), out, model=model, data=data)
    assert dirs.read_bytes() == kept
    np.testing.assert_array_equal(again.metrics["train_loss"], reused.metrics["train_loss"])
    compute_surface(spec(directions={"seed": 7}), out, model=model, data=data, overwrite=True)
    assert dirs.read_bytes() != kept


def test_leftovers_of_killed_writers_are_removed(tmp_path, model, data):
    dead = tmp_path / ".s.h5.999999999.tmp"  # no such process
    dead.write_bytes(b"half a file")
    compute_surface(spec(), tmp_path / "s.h5", model=model, data=data)
    assert not dead.exists()


@pytest.mark.parametrize("flushing", [True, False])
def test_denormal_flushing_is_left_as_it_was(model, data, flushing):
    torch.set_flush_denormal(flushing)
    try:
        compute_surface(spec(), model=model, data=data)
        assert ((torch.tensor([1e-39]) * 1.0).item() == 0.0) == flushing
    finally:
        torch.set_flush_denormal(False)
