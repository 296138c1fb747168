"""Hessian eigenvalues against independent computations: explicit Hessians (``torch.autograd.functional
.hessian`` + ``numpy.linalg.eigh``), matrices with a known spectrum, a convex model, an indefinite toy
with a known negative eigenvalue; grid points against hand-built perturbed models; resume; the centre's
trace and density."""

from __future__ import annotations

import copy

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn
from independent import explicit_hessian, make_model, perturbed, read_direction_file

from workers import SurfaceSpec, compute_surface, read_surface
from workers.h5io import write_surface
from workers.hessian import (
    CurvatureEvaluator,
    HessianOperator,
    extremes_converged,
    hessian_params,
    hutchinson_trace,
    lanczos,
    start_vector,
    top_converged,
)
from workers.spec import HessianSpec
from workers.stats import eig_nonconvex_share, landscape_stats


class MLP(nn.Module):
    """6 -> 8 -> BN -> ReLU -> 10: 146 parameters, small enough to form its Hessian in a blink."""

    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    m = MLP()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.2, 0.2)
        m.bn.running_var.uniform_(0.5, 1.5)
    return m.eval()


@pytest.fixture
def feats() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(3)
    return {"train": (torch.randn(40, 6, generator=gen), torch.randint(0, 10, (40,), generator=gen))}


def spec(**kwargs) -> SurfaceSpec:
    base = dict(
        model="mlp",
        dataset="tensors",
        batch_size=16,
        x="-1:1:3",
        y="-1:1:3",
        hessian=dict(tol=1e-6, max_steps=400, summary=False),
    )
    return SurfaceSpec(**{**base, **kwargs})


def eigs(h: np.ndarray) -> np.ndarray:
    return np.linalg.eigvalsh(h)


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.slow
def test_extremes_match_the_explicit_hessian_of_a_conv_net_with_batchnorm():
    model = make_model("tinycnn")
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(12, 3, 8, 8, generator=gen), torch.randint(0, 10, (12,), generator=gen)
    names = [n for n, p in model.named_parameters() if p.dim() > 1]
    truth = eigs(explicit_hessian(model, names, x, y, dtype=torch.float32))
    assert truth[0] < 0 < truth[-1]  # a random net: indefinite
    ev = CurvatureEvaluator(
        copy.deepcopy(model), HessianSpec(params="reference", tol=1e-6, max_steps=600), (x, y), "ce", 5
    )
    got = ev.evaluate()
    assert relative(got["max_eig"], truth[-1]) < 1e-4 and relative(got["min_eig"], truth[0]) < 1e-4
    assert ev.steps[0] < 200  # far fewer products than the 1,528 dimensions


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_extremes_match_the_explicit_hessian_of_an_mlp(loss, feats):
    model, (x, y) = mlp(), feats["train"]
    truth = eigs(explicit_hessian(model, [n for n, _ in model.named_parameters()], x, y, loss))
    ev = CurvatureEvaluator(
        model,
        HessianSpec(params="moved", tol=1e-6),
        (x, y),
        loss,
        16,
        [[torch.ones_like(p) for p in model.parameters()]],
    )  # a direction moving everything
    got = ev.evaluate()
    assert len(ev.param_names) == 6 and truth[0] < 0
    assert relative(got["max_eig"], truth[-1]) < 1e-4 and relative(got["min_eig"], truth[0]) < 1e-4


def test_batch_sum_scale_is_the_reference_operator(feats):
    """The reference sums the Hessians of each batch's MEAN loss: 40 samples in batches of 16, 16, 8."""
    model, (x, y) = mlp(), feats["train"]
    names = [n for n, _ in model.named_parameters()]
    truth = sum(explicit_hessian(model, names, x[i : i + 16], y[i : i + 16]) for i in (0, 16, 32))
    op = HessianOperator(model, list(model.parameters()), x, y, "ce", 16, scale="batch_sum")
    v = start_vector(op.n, 5)
    np.testing.assert_allclose(op(v).numpy(), truth @ v.numpy(), rtol=1e-4, atol=1e-6 * np.abs(truth).max())
    mean = HessianOperator(model, list(model.parameters()), x, y, "ce", 16)
    np.testing.assert_allclose(
        mean(v).numpy(), explicit_hessian(model, names, x, y) @ v.numpy(), rtol=1e-4, atol=1e-6 * np.abs(truth).max()
    )


def test_lanczos_on_a_known_spectrum_and_the_quadrature_it_gives():
    rng = np.random.default_rng(0)
    spectrum = np.concatenate([[-3.0, -0.7], rng.uniform(-0.1, 0.1, 60), [0.9, 2.5, 7.0]])
    q, _ = np.linalg.qr(rng.standard_normal((65, 65)))
    a = torch.from_numpy(q @ np.diag(spectrum) @ q.T)
    r = lanczos(lambda v: a @ v, start_vector(65, 0), 65, stop=extremes_converged(1e-10))
    assert r.converged and r.steps < 65
    assert r.ritz[0] == pytest.approx(-3.0, rel=1e-9) and r.ritz[-1] == pytest.approx(7.0, rel=1e-9)
    top = lanczos(lambda v: a @ v, start_vector(65, 0), 65, stop=top_converged(3, 1e-10))
    np.testing.assert_allclose(top.ritz[-3:], [0.9, 2.5, 7.0], rtol=1e-8)
    # Full Lanczos is an exact Gauss quadrature: sum_i w_i f(theta_i) = v^T f(A) v / |v|^2.
    v = start_vector(65, 9, rademacher=True)
    full = lanczos(lambda u: a @ u, v, 65)
    w = full.first**2
    assert w.sum() == pytest.approx(1.0)
    for k in (1, 2, 3, 5):
        exact = float(v @ torch.linalg.matrix_power(a, k) @ v) / 65
        assert (w * full.ritz**k).sum() == pytest.approx(exact, rel=1e-8)


def test_hutchinson_is_exact_on_a_diagonal_operator():
    d = torch.linspace(-1, 4, 30, dtype=torch.float64)
    trace, _ = hutchinson_trace(lambda v: d * v, 30, 3, seed=0, device="cpu")
    assert trace == pytest.approx(float(d.sum()), rel=1e-12)


def test_logistic_regression_is_convex(feats):
    model = nn.Linear(6, 10).eval()
    x, y = feats["train"]
    ev = CurvatureEvaluator(model, HessianSpec(params="reference", tol=1e-6), (x, y), "ce", 16)
    got = ev.evaluate()
    truth = eigs(explicit_hessian(model, ["weight"], x, y))
    assert got["max_eig"] == pytest.approx(truth[-1], rel=1e-4)
    assert got["min_eig"] >= -1e-6 * got["max_eig"]


class Bilinear(nn.Module):
    """logits ``[a*b*x, 0]``: at a = b = 0 with every label 0, the Hessian of the cross-entropy is
    ``-mean(x)/2 * [[0, 1], [1, 0]]``, eigenvalues ``+-mean(x)/2``."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.zeros(1, 1)), nn.Parameter(torch.zeros(1, 1))

    def forward(self, x):
        z = (self.a * self.b).view(()) * x[:, 0]
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def test_indefinite_toy_with_a_known_negative_eigenvalue():
    x = torch.linspace(0.5, 2.5, 9).view(-1, 1)  # mean 1.5
    y = torch.zeros(9, dtype=torch.long)
    got = CurvatureEvaluator(Bilinear(), HessianSpec(params="reference", tol=1e-9), (x, y), "ce", 4).evaluate()
    assert got["min_eig"] == pytest.approx(-0.75, rel=1e-6) and got["max_eig"] == pytest.approx(0.75, rel=1e-6)


def test_reference_recipe_finds_both_ends(feats):
    pytest.importorskip("scipy")
    model, (x, y) = mlp(), feats["train"]
    names = [n for n, p in model.named_parameters() if p.dim() > 1]
    truth = eigs(explicit_hessian(model, names, x, y))
    ev = CurvatureEvaluator(model, HessianSpec(params="reference", method="reference"), (x, y), "ce", 40)
    got = ev.evaluate()
    assert relative(got["max_eig"], truth[-1]) < 1e-2 and relative(got["min_eig"], truth[0]) < 1e-2


def test_params_moved_by_the_directions_or_the_references_set():
    model = make_model("tinycnn")
    multi = ["conv1.weight", "conv2.weight", "linear.weight"]
    assert [n for n, _ in hessian_params(model, "reference")] == multi
    from workers.directions import random_directions

    assert [n for n, _ in hessian_params(model, "moved", random_directions(model, 0, 2))] == multi
    everything = random_directions(model, 0, 1, ignore="none")
    assert [n for n, _ in hessian_params(model, "moved", everything)] == [n for n, _ in model.named_parameters()]
    states = random_directions(model, 0, 1, dir_type="states")
    assert [n for n, _ in hessian_params(model, "moved", states, "states")] == multi


def test_every_grid_point_is_the_explicit_hessian_of_the_hand_built_perturbed_model(tmp_path, feats):
    model = mlp()
    s = compute_surface(spec(x="-1:1:3", y="0:1:2"), tmp_path / "s.h5", model=model, data=feats)
    dirs = read_direction_file(tmp_path / "s.dirs.h5")
    names = [n for n, p in model.named_parameters() if p.dim() > 1]  # biasbn: what the directions move
    for iy, yv in enumerate((0.0, 1.0)):
        for ix, xv in enumerate((-1.0, 0.0, 1.0)):
            truth = eigs(explicit_hessian(perturbed(model, dirs, (xv, yv)), names, *feats["train"]))
            assert relative(s.metrics["max_eig"][iy, ix], truth[-1]) < 1e-4, (ix, iy)
            assert relative(s.metrics["min_eig"][iy, ix], truth[0]) < 1e-4, (ix, iy)
    back = read_surface(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.metrics["min_eig"], s.metrics["min_eig"])
    assert back.attrs["landscape_stats"]["hessian"]["method"] == "hessian"
    assert back.attrs["hessian_hvps"] > 0


def test_lanczos_runs_stopped_before_the_tolerance_leave_their_residual_in_the_file(tmp_path, feats):
    model = mlp()
    names = [n for n, p in model.named_parameters() if p.dim() > 1]
    truth = eigs(explicit_hessian(model, names, *feats["train"]))
    short = compute_surface(spec(x="-1:1:3", y=None, hessian=dict(tol=1e-3, max_steps=3, summary=False)),
                            tmp_path / "short.h5", model=model, data=feats)  # fmt: skip
    assert read_surface(tmp_path / "short.h5").attrs["hessian_residual"] > 1e-3
    # what the count warns of: the centre's values lie inside the spectrum, off by more than the tolerance
    assert truth[-1] - short.metrics["max_eig"][1] > 1e-3 * truth[-1]
    assert short.metrics["min_eig"][1] - truth[0] > 1e-3 * truth[-1]
    full = compute_surface(spec(x="-1:1:3", y=None), tmp_path / "full.h5", model=model, data=feats)
    assert read_surface(tmp_path / "full.h5").attrs["hessian_residual"] <= 1e-6
    assert relative(full.metrics["max_eig"][1], truth[-1]) < 1e-4


def test_a_stopped_run_keeps_its_residual_and_a_file_with_unrecorded_residuals_claims_none(tmp_path, feats):
    """Each chunk adds its products and residual to the file (a Ray actor's come back with its values); a
    file whose first points recorded no residual (an older version's) never claims one for them all."""
    model = mlp()
    sp = spec(x="-1:1:3", y=None, hessian=dict(max_steps=3, summary=False))
    compute_surface(sp, tmp_path / "whole.h5", model=model, data=feats)
    whole = read_surface(tmp_path / "whole.h5")
    calls = iter(range(10))
    compute_surface(sp, tmp_path / "part.h5", model=model, data=feats, should_stop=lambda: next(calls) >= 2)
    part = read_surface(tmp_path / "part.h5")
    assert int(part.done.sum()) == 2 and 0 < part.attrs["hessian_residual"] <= whole.attrs["hessian_residual"]
    old = tmp_path / "old.h5"
    del part.attrs["hessian_residual"]
    write_surface(old, part)
    compute_surface(sp, old, model=model, data=feats)
    assert read_surface(old).is_complete and "hessian_residual" not in read_surface(old).attrs
    compute_surface(sp, tmp_path / "part.h5", model=model, data=feats)  # the canary's residual too: the same
    assert read_surface(tmp_path / "part.h5").attrs["hessian_residual"] == whole.attrs["hessian_residual"]


def test_resume_equals_uninterrupted_and_the_centre_summary_matches_the_explicit_hessian(tmp_path, feats):
    model = mlp(1)
    sp = spec(
        x="-0.5:0.5:3",
        y="-0.5:0.5:2",
        batch_size=40,
        hessian=dict(tol=1e-6, max_steps=400, top_k=3, trace_samples=40, density_steps=30),
    )
    whole = compute_surface(sp, tmp_path / "whole.h5", model=model, data=feats)
    calls = iter(range(100))
    stages = []
    partial = compute_surface(
        sp,
        tmp_path / "part.h5",
        model=model,
        data=feats,
        should_stop=lambda: next(calls) >= 3,
        progress=lambda p: stages.append(p.stage),
    )
    assert int(partial.done.sum()) == 3 and "curvature" not in partial.attrs
    assert any(st.startswith("Lanczos step") for st in stages)
    resumed = compute_surface(sp, tmp_path / "part.h5", model=model, data=feats)
    for m in ("max_eig", "min_eig", "train_loss"):
        np.testing.assert_array_equal(resumed.metrics[m], whole.metrics[m])
    assert resumed.attrs["curvature"] == whole.attrs["curvature"]
    assert resumed.attrs["hessian_hvps"] > whole.attrs["hessian_hvps"]  # resuming recomputes a canary point

    c = read_surface(tmp_path / "part.h5").attrs["curvature"]
    h = explicit_hessian(model, [n for n, p in model.named_parameters() if p.dim() > 1], *feats["train"])
    truth = eigs(h)
    np.testing.assert_allclose(c["top_eigenvalues"], truth[::-1][:3], rtol=1e-4)
    # Hutchinson: unbiased, with variance 2 * sum of the squared off-diagonal entries for Rademacher probes.
    sd = np.sqrt(2 * ((h**2).sum() - (np.diag(h) ** 2).sum()) / c["trace_samples"])
    assert abs(c["trace"] - np.trace(h)) < 4 * sd
    assert c["trace_stderr"] == pytest.approx(sd, rel=0.3)
    # SLQ with as many steps as dimensions: the density's moments are v^T H^k v / n of its probe.
    nodes, weights = np.array(c["density_nodes"][0]), np.array(c["density_weights"][0])
    v = start_vector(len(h), sp.hessian.seed + 2000, rademacher=True).numpy()
    for k in (1, 2, 3):
        assert (weights * nodes**k).sum() == pytest.approx(v @ np.linalg.matrix_power(h, k) @ v / len(h), rel=1e-5)


def test_a_hessian_surface_is_not_resumed_without_it_and_vice_versa(tmp_path, feats):
    model = mlp()
    assert "hessian" not in spec(hessian=None).model_dump()  # recipes without maps stay as before them
    assert spec().model_dump()["hessian"]["tol"] == 1e-6
    compute_surface(spec(x="0:1:2", y=None, hessian=None), tmp_path / "s.h5", model=model, data=feats)
    with pytest.raises(ValueError, match="computed with other settings .*hessian"):
        compute_surface(spec(x="0:1:2", y=None), tmp_path / "s.h5", model=model, data=feats)


def test_reference_eigenvalue_files_are_read(tmp_path):
    """plot_hessian_eigen.py adds max_eig (pending -1) and min_eig (pending +1) to a surface file,
    stored (nx, ny) like the losses; a point's loss can be done while its eigenvalues are pending."""
    x, y = np.linspace(-1, 1, 3), np.linspace(0, 1, 2)
    loss = np.arange(6.0).reshape(2, 3) + 1  # [iy, ix]
    max_eig = np.array([[5.0, 4.0, -1.0], [3.0, -1.0, -1.0]])
    min_eig = np.array([[-0.5, 1.0, 1.0], [-0.2, 1.0, 1.0]])  # 1.0 at (1, 0) is a computed value
    max_eig[0, 1], min_eig[0, 1] = 4.0, 1.0
    with h5py.File(tmp_path / "ref.h5", "w") as f:
        f["xcoordinates"], f["ycoordinates"] = x, y
        for name, grid in (("train_loss", loss), ("max_eig", max_eig), ("min_eig", min_eig)):
            f[name] = grid.reshape(-1).reshape(3, 2)  # the reference's scrambled (nx, ny) layout
    s = read_surface(tmp_path / "ref.h5")
    assert s.reference
    np.testing.assert_array_equal(s.metrics["train_loss"], loss)
    expected_max = np.where(max_eig == -1, np.nan, max_eig)
    np.testing.assert_array_equal(s.metrics["max_eig"], expected_max)
    np.testing.assert_array_equal(s.metrics["min_eig"], np.where(max_eig == -1, np.nan, min_eig))
    np.testing.assert_array_equal(s.done, max_eig != -1)


def test_eigenvalue_nonconvex_share_beside_the_grid_one():
    x = np.linspace(-1, 1, 5)
    max_eig = np.ones((5, 5))
    min_eig = np.full((5, 5), -0.05)  # 5% of the largest: convex enough
    min_eig[2, 2] = -0.5  # the centre: not convex
    min_eig[2, 3] = np.nan  # (0.5, 0) inside the disc, missing
    out = eig_nonconvex_share(min_eig, max_eig, x, x)
    assert out == {"nonconvex_share": 1 / 4, "points": 4, "skipped": 1}  # (0,0), (+-0.5,0), (0,+-0.5) minus one
    from workers.h5io import Surface

    s = Surface(
        x, x, {"train_loss": np.add.outer(x**2, x**2), "max_eig": max_eig, "min_eig": min_eig}, np.ones((5, 5), bool)
    )
    stats = landscape_stats(s)["landscape_stats"]
    assert stats["method"] == "grid" and stats["nonconvex_share"] == 0.0
    assert stats["hessian"]["method"] == "hessian" and stats["hessian"]["nonconvex_share"] == 0.25
