"""K grid points per pass against one point per pass and against a plain loop; the fast mode's self-check."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
from independent import make_model, perturbed, plain_metrics

from workers import SurfaceSpec, compute_surface, read_surface
from workers.directions import random_directions
from workers.evaluate import batch_metrics
from workers.fastmode import fast_precision
from workers.grid import coarse_to_fine
from workers.pointeval import PointEvaluator, check_points

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU"))]
XS, YS = np.linspace(-1, 1, 5), np.linspace(-0.5, 1.0, 4)  # non-square: 4 rows of 5


def on(data, device):
    return {k: (x.to(device), y.to(device)) for k, (x, y) in data.items()}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dir_type", ["weights", "states"])  # states: BN running statistics move too
def test_k_points_per_pass_equal_one_point_per_pass(data, device, dir_type):
    base = make_model("tinycnn").to(device)
    dirs = random_directions(base, seed=3, dir_type=dir_type, ignore="none")
    points = [(0.4 * x, 0.4 * y) for y in YS for x in XS]  # small enough that BN variances stay positive
    kwargs = dict(dir_type=dir_type, batch_size=16, device=device)
    one = PointEvaluator(copy.deepcopy(base), dirs, data, points_per_pass=1, **kwargs).evaluate(points)
    many = PointEvaluator(copy.deepcopy(base), dirs, data, points_per_pass=6, **kwargs).evaluate(points)  # 20 = 6+6+6+2
    assert len(many) == len(points)
    for a, b in zip(one, many):
        assert a.keys() == b.keys() == {"train_loss", "train_acc", "test_loss", "test_acc"}
        for m in a:
            np.testing.assert_allclose(b[m], a[m], rtol=1e-6, atol=0 if m.endswith("acc") else 1e-9, err_msg=m)
    spread = np.ptp([r["train_loss"] for r in one])
    assert spread > 0.01  # the points differ: equality is not one value copied around


def test_batched_point_matches_a_perturbed_copy_evaluated_by_a_plain_loop(data):
    base = make_model("tinycnn")
    dirs = random_directions(base, seed=4)
    points = [(0.7, -0.3), (-0.2, 0.9), (0.0, 0.0)]
    got = PointEvaluator(copy.deepcopy(base), dirs, data, batch_size=32, points_per_pass=3).evaluate(points)
    for coords, values in zip(points, got):
        model = perturbed(base, [[t.numpy() for t in d] for d in dirs], coords)
        for split, (x, y) in data.items():
            loss, acc = plain_metrics(model, x, y)
            np.testing.assert_allclose(values[f"{split}_loss"], loss, rtol=1e-6)
            assert values[f"{split}_acc"] == pytest.approx(acc, abs=1e-9)


def test_batch_metrics_over_k_points_equal_k_separate_calls():
    gen = torch.Generator().manual_seed(0)
    logits, target = torch.randn(3, 9, 5, generator=gen), torch.randint(0, 5, (9,), generator=gen)
    for loss in ("ce", "mse"):
        total, correct = batch_metrics(logits, target, loss)
        assert total.shape == correct.shape == (3,)
        for k in range(3):
            t, c = batch_metrics(logits[k], target, loss)
            assert t.shape == ()
            torch.testing.assert_close(total[k], t)
            assert correct[k] == c == (logits[k].argmax(1) == target).sum()


@pytest.mark.parametrize("device", DEVICES)
def test_surface_in_chunks_equals_point_by_point_and_keeps_the_coarse_to_fine_order(data, device):
    model = make_model("tinycnn")
    spec = SurfaceSpec(model="tinycnn", dataset="tensors", x="-1:1:5", y="-0.5:1:4", batch_size=16, split="both")
    exact = compute_surface(spec, model=model, data=data, device=device)
    seen = []
    chunked = compute_surface(
        spec,
        model=model,
        data=data,
        device=device,
        points_per_pass=4,
        progress=lambda p: seen.append([(iy, ix) for ix, iy, _ in p.new]),
    )
    for m in spec.metrics:
        np.testing.assert_allclose(chunked.metrics[m], exact.metrics[m], rtol=1e-6, err_msg=m)
    assert all(1 <= len(c) <= 4 for c in seen)
    order = [iy * 5 + ix for chunk in seen for iy, ix in chunk]
    assert order == [int(i) for level in coarse_to_fine(5, 4) for i in level]
    # a chunk never mixes levels: each level starts a new chunk
    starts = np.cumsum([0] + [len(level) for level in coarse_to_fine(5, 4)])[:-1]
    chunk_starts = np.cumsum([0] + [len(c) for c in seen])[:-1]
    assert set(starts) <= set(chunk_starts)


def test_fast_surface_stores_its_measured_deviation_at_centre_and_corners(tmp_path, data):
    model = make_model("tinycnn")
    sp = dict(model="tinycnn", dataset="tensors", x="-1:1:5", y="-0.5:1:4", batch_size=16, split="both")
    out = tmp_path / "fast.h5"
    fast = compute_surface(SurfaceSpec(**sp, fast=True), out, model=model, data=data, points_per_pass=3)
    exact = compute_surface(SurfaceSpec(**sp), model=model, data=data)
    check = read_surface(out).recipe["compute"]["fast_check"]  # round-tripped through the file
    assert check == fast.recipe["compute"]["fast_check"]
    centre, corners = (0.0, np.linspace(-0.5, 1, 4)[2]), [(-1.0, -0.5), (1.0, -0.5), (-1.0, 1.0), (1.0, 1.0)]
    assert [tuple(p) for p in check["points"]] == [centre, *corners]
    index = [(2, 2), (0, 0), (0, 4), (3, 0), (3, 4)]  # (iy, ix) of those points
    for m in SurfaceSpec(**sp).metrics:
        dev = [abs(fast.metrics[m][i] - exact.metrics[m][i]) for i in index]
        assert check["max_abs"][m] == pytest.approx(max(dev), abs=1e-12)
        rel = max(d / abs(exact.metrics[m][i]) for d, i in zip(dev, index))
        assert check["max_rel"][m] == pytest.approx(rel, abs=1e-12)
    assert 0 < check["max_abs"]["train_loss"] < 1e-3  # folding moved the values a little, not much


def test_exact_surface_has_no_fast_check(data):
    model = make_model("tinycnn")
    spec = SurfaceSpec(model="tinycnn", dataset="tensors", x="-1:1:3", batch_size=16)
    assert "fast_check" not in compute_surface(spec, model=model, data=data).recipe.get("compute", {})


def test_check_points_are_centre_and_corners_each_once():
    assert check_points([-1.0, 0.0, 1.0]) == [(0.0,), (-1.0,), (1.0,)]
    assert check_points([2.0]) == [(2.0,)]
    assert check_points([0.0, 1.0], [5.0]) == [(1.0, 5.0), (0.0, 5.0)]
    assert len(check_points(XS, YS)) == 5


class Branchy(nn.Module):
    """Control flow on a tensor's value: vmap cannot batch it over grid points."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, 10)

    def forward(self, x):
        out = self.linear(x.flatten(1))
        return out if out.sum() > 0 else -out


def test_a_model_that_cannot_be_batched_is_refused_when_asked_and_falls_back_when_automatic(data, monkeypatch):
    torch.manual_seed(0)
    model = Branchy().eval()
    dirs = random_directions(model, seed=0)
    points = [(0.1, 0.2), (0.3, -0.1)]
    with pytest.raises(ValueError, match="cannot evaluate 2 points per pass with this model.*use 1"):
        PointEvaluator(copy.deepcopy(model), dirs, data, points_per_pass=2).evaluate(points)
    with pytest.raises(ValueError, match="at least 1"):
        PointEvaluator(copy.deepcopy(model), dirs, data, points_per_pass=0)
    assert PointEvaluator(copy.deepcopy(model), dirs, data).points_per_pass == 1  # the CPU default
    one = PointEvaluator(copy.deepcopy(model), dirs, data, points_per_pass=1).evaluate(points)
    monkeypatch.setattr(PointEvaluator, "_auto_points", lambda self: 2)  # as a GPU would choose
    auto = PointEvaluator(copy.deepcopy(model), dirs, data)
    with pytest.warns(UserWarning, match="one point per pass"):
        assert auto.evaluate(points) == one
    assert auto.points_per_pass == 1


def test_fast_mode_names():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert fast_precision(False, cpu) is None and fast_precision(False, cuda) is None
    assert fast_precision(True, cpu) == "fp32"  # bf16 on a CPU is asked for by name
    assert fast_precision(True, cuda) == "bf16"
    assert fast_precision("bf16", cpu) == "bf16"
    with pytest.raises(ValueError, match="fp32, bf16"):
        fast_precision("fp16", cpu)
    assert SurfaceSpec(model="m", x="-1:1:3", fast="bf16").fast == "bf16"
    assert SurfaceSpec(model="m", x="-1:1:3", fast="true").fast is True
    with pytest.raises(ValueError, match="fast is true, false, fp32 or bf16, not 'fp16'"):
        SurfaceSpec(model="m", x="-1:1:3", fast="fp16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_on_a_gpu_points_per_pass_is_chosen_from_free_memory_and_equals_the_cpu(data):
    base = make_model("tinycnn")
    dirs = random_directions(base, seed=5)
    points = [(float(x), float(y)) for y in YS for x in XS]
    gpu = PointEvaluator(
        copy.deepcopy(base).cuda(), [[t.cuda() for t in d] for d in dirs], on(data, "cuda"), device="cuda"
    )
    assert 1 < gpu.points_per_pass <= 64
    cpu = PointEvaluator(copy.deepcopy(base), dirs, data).evaluate(points)
    for a, b in zip(cpu, gpu.evaluate(points)):
        for m in a:
            np.testing.assert_allclose(b[m], a[m], rtol=1e-5, err_msg=m)  # another device's kernels: 1e-5


def test_hessian_maps_take_one_point_per_pass(tmp_path, data):
    spec = SurfaceSpec(
        model="tinycnn", dataset="tensors", x="-1:1:3", batch_size=16, hessian=dict(max_steps=5, summary=False)
    )
    with pytest.raises(ValueError, match="the Hessian maps are computed one point per pass"):
        compute_surface(spec, tmp_path / "s.h5", model=make_model("tinycnn"), data=data, points_per_pass=2)
    assert list(tmp_path.iterdir()) == []
