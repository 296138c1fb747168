"""The fast mode: BatchNorm folded into convolutions, channels-last, bfloat16; close to exact."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from independent import make_model, perturbed

from workers import SurfaceSpec, compute_surface
from workers.directions import random_directions
from workers.evaluate import FlatWeights
from workers.fastmode import FastForward

CPU = torch.device("cpu")


def bn_calls(module: nn.Module) -> int:
    """BatchNorm modules the traced forward still calls."""
    graph = getattr(module, "graph", None)
    modules = dict(module.named_modules())
    return sum(1 for n in graph.nodes if n.op == "call_module" and isinstance(modules[n.target], nn.BatchNorm2d))


@pytest.mark.parametrize("name", ["tinycnn", "resnet20", "resnet20_noshort"])
def test_every_conv_bn_pair_is_folded_and_fp32_folding_is_exact(name):
    model = make_model(name)
    fast = FastForward(copy.deepcopy(model), CPU, bf16=False)
    assert len(fast.pairs) == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert bn_calls(fast.module) == 0
    x = torch.randn(6, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(fast(fast.prepare_inputs(x)), model(x), rtol=1e-4, atol=1e-4)


def test_folded_model_follows_moves_in_weight_space(data):
    base = make_model("tinycnn")
    model = copy.deepcopy(base)
    dirs = random_directions(model, seed=1, ignore="none")  # BN weights move too: folding must be redone
    flat = FlatWeights(model, dirs)
    fast = FastForward(model, CPU, bf16=False)
    x = data["train"][0]
    for coords in [(0.5, -0.5), (-1.0, 0.25)]:
        flat.set_point(*coords)
        fast.refresh()
        with torch.no_grad():
            want = perturbed(base, [[t.numpy() for t in d] for d in dirs], coords)(x)
            torch.testing.assert_close(fast(fast.prepare_inputs(x)), want, rtol=1e-4, atol=1e-4)


class PreActivation(nn.Module):
    """A conv that follows a BN instead of preceding one (DenseNet's order) cannot be folded."""

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.linear = nn.Linear(8, 10)

    def forward(self, x):
        out = self.conv(F.relu(self.bn(self.conv0(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def test_unfolded_convolutions_still_move_through_weight_space(data):
    """Regression: converting the whole model to channels-last cut unfolded weights off the flat buffer,
    so the fast surface stayed flat along them."""
    torch.manual_seed(0)
    model = PreActivation().eval()
    sp = dict(model="custom", dataset="tensors", x="-1:1:5", batch_size=16)
    exact = compute_surface(SurfaceSpec(**sp), model=model, data=data).metrics["train_loss"]
    fast = compute_surface(SurfaceSpec(**sp, fast=True), model=model, data=data).metrics["train_loss"]
    assert np.ptp(exact) > 0.01
    np.testing.assert_allclose(fast, exact, atol=0.02 * np.ptp(exact))


@pytest.mark.parametrize("name", ["tinycnn", "resnet20"])
def test_fast_surface_is_close_to_the_exact_one(name, data):
    model = make_model(name)
    sp = dict(model=name, dataset="tensors", x="-1:1:3", y="-1:1:3", batch_size=16, split="both")
    exact = compute_surface(SurfaceSpec(**sp), model=model, data=data)
    fast = compute_surface(SurfaceSpec(**sp, fast=True), model=model, data=data)
    loss_dev = max(np.abs(fast.metrics[m] - exact.metrics[m]).max() for m in ("train_loss", "test_loss"))
    acc_dev = max(np.abs(fast.metrics[m] - exact.metrics[m]).max() for m in ("train_acc", "test_acc"))
    print(f"{name}: fast mode's largest deviation: loss {loss_dev:.2e}, accuracy {acc_dev:.2f} points")
    spread = np.ptp(exact.metrics["train_loss"])
    assert loss_dev < 0.02 * spread + 1e-3 * np.abs(exact.metrics["train_loss"]).max()
    assert acc_dev <= 100.0 * 2 / 40  # at most two of 40 test samples flip


def test_compiled_fast_mode_follows_moves_in_weight_space_without_recompiling(data):
    base = make_model("tinycnn")
    model = copy.deepcopy(base)
    dirs = random_directions(model, seed=1, ignore="none")
    flat = FlatWeights(model, dirs)
    fast = FastForward(model, CPU, bf16=False, compile=True)
    x = fast.prepare_inputs(data["train"][0])
    with torch.inference_mode():
        fast(x)  # compiles for this batch shape
    with torch._dynamo.config.patch(error_on_recompile=True):
        for coords in [(0.5, -0.5), (-1.0, 0.25)]:
            flat.set_point(*coords)
            fast.refresh()
            with torch.inference_mode():
                got = fast(x)
            want = perturbed(base, [[t.numpy() for t in d] for d in dirs], coords)(data["train"][0])
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert fast.compiled is not None  # it ran compiled, not through the eager fallback


def test_compile_without_fast_is_refused_before_anything_is_written(tmp_path, data):
    spec = SurfaceSpec(model="tinycnn", dataset="tensors", x="-1:1:3")
    with pytest.raises(ValueError, match="compiling is part of the fast mode: add --fast"):
        compute_surface(spec, tmp_path / "s.h5", model=make_model("tinycnn"), data=data, compile_fast=True)
    assert list(tmp_path.iterdir()) == []


class PoolHead(nn.Module):
    """Global average pooling written three ways: a module, the functional form, and a 2x2 pool (kept)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = nn.Linear(24, 10)

    def forward(self, x):
        out = F.relu(self.bn(self.conv(x)))
        a = self.pool(out).flatten(1)
        b = F.adaptive_avg_pool2d(out, 1).flatten(1)
        c = F.adaptive_avg_pool2d(out, 2).mean((2, 3))
        return self.linear(torch.cat([a, b, c], 1))


def test_global_pooling_becomes_a_mean_that_vmap_batches():
    """adaptive_avg_pool2d of a channels-last input has no batching rule: with K points per pass torch
    looped over the points and warned. The fast mode computes the 1x1 poolings as means instead."""
    import warnings

    from torch.func import functional_call, vmap

    model = PoolHead().eval()
    fast = FastForward(copy.deepcopy(model), CPU)
    calls = [n.target for n in fast.module.graph.nodes if n.op in ("call_function", "call_module")]
    assert calls.count(torch.mean) == 2 and calls.count(F.adaptive_avg_pool2d) == 1 and "pool" not in calls
    x = fast.prepare_inputs(torch.randn(5, 3, 9, 7))
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-5, atol=1e-6)
    params = dict(fast.module.named_parameters())
    stacked = {k: torch.stack([v, 1.01 * v]) for k, v in params.items()}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")  # the fallback's "performance drop" warning would fail here
        out = vmap(lambda p: functional_call(fast.module, p, (x,)))(stacked)
        torch.testing.assert_close(out[0], fast(x))
