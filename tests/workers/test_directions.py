"""Random and target directions against the definitions of DESIGN.md section 3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from independent import make_model

from workers.directions import named_weights, random_directions, target_direction


def gaussians(weights: list[torch.Tensor], seed: int, count: int = 1) -> list[list[np.ndarray]]:
    """The raw draws: one Gaussian tensor per weight, in order, from one generator seeded ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(w.shape, generator=gen).double().numpy() for w in weights] for _ in range(count)]


@pytest.fixture(scope="module")
def resnet():
    return make_model("resnet20")


def test_filter_norm_gives_every_filter_its_weight_filters_norm(resnet):
    [d] = random_directions(resnet, seed=3, count=1)
    weights = [p.detach() for p in resnet.parameters()]
    checked = 0
    for w, dt in zip(weights, d):
        if w.dim() <= 1:
            continue
        for wf, df in zip(w, dt):  # conv output filters / linear rows
            np.testing.assert_allclose(df.double().norm().item(), wf.double().norm().item(), rtol=1e-5)
            checked += 1
    assert checked == sum(w.shape[0] for w in weights if w.dim() > 1)


@pytest.mark.parametrize("norm", ["filter", "layer", "weight", "none"])
def test_normalizations_match_an_independent_implementation(resnet, norm):
    weights = [p.detach().double().numpy() for p in resnet.parameters()]
    [g] = gaussians(list(resnet.parameters()), seed=5)
    [d] = random_directions(resnet, seed=5, count=1, norm=norm)
    for w, gt, dt in zip(weights, g, d):
        if w.ndim <= 1:
            expected = np.zeros_like(w)
        elif norm == "filter":
            expected = np.stack([gf * np.linalg.norm(wf) / (np.linalg.norm(gf) + 1e-10) for gf, wf in zip(gt, w)])
        elif norm == "layer":
            expected = gt * np.linalg.norm(w) / np.linalg.norm(gt)
        elif norm == "weight":
            expected = gt * w
        else:
            expected = gt
        np.testing.assert_allclose(dt.numpy(), expected, rtol=1e-5, atol=1e-7)
    if norm == "layer":  # the defining property, not only the formula
        for w, dt in zip(weights, d):
            if w.ndim > 1:
                np.testing.assert_allclose(np.linalg.norm(dt.numpy()), np.linalg.norm(w), rtol=1e-5)


def test_biasbn_zero_and_reference_copy_for_one_dimensional_weights(resnet):
    [ignored] = random_directions(resnet, seed=1, count=1, ignore="biasbn")
    [kept] = random_directions(resnet, seed=1, count=1, ignore="none")
    one_d = 0
    for w, a, b in zip(resnet.parameters(), ignored, kept):
        if w.dim() <= 1:
            one_d += 1
            assert torch.count_nonzero(a) == 0
            torch.testing.assert_close(b, w.detach(), rtol=0, atol=0)  # the reference: d = w
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=0)  # the >1-D draws are unaffected
    assert one_d > 0


def test_states_directions_cover_running_statistics(model):
    names = [n for n, _ in named_weights(model, "states")]
    assert names == list(model.state_dict())
    assert {"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"} <= set(names)
    state = model.state_dict()
    [zeroed] = random_directions(model, seed=0, count=1, dir_type="states")
    [copied] = random_directions(model, seed=0, count=1, dir_type="states", ignore="none")
    for name, a, b in zip(names, zeroed, copied):
        assert a.shape == state[name].shape
        if name.endswith("num_batches_tracked"):
            assert torch.count_nonzero(a) == 0 and torch.count_nonzero(b) == 0
        elif state[name].dim() <= 1:
            assert torch.count_nonzero(a) == 0
            torch.testing.assert_close(b, state[name].float(), rtol=0, atol=0)
    # The weights of a states direction are normalized like those of a weights direction.
    w = state["conv1.weight"]
    d = zeroed[names.index("conv1.weight")]
    np.testing.assert_allclose(d.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1), rtol=1e-5)


def test_seed_determines_the_directions(model):
    a = random_directions(model, seed=7)
    b = random_directions(model, seed=7)
    c = random_directions(model, seed=8)
    for da, db in zip(a, b):
        for ta, tb in zip(da, db):
            assert torch.equal(ta, tb)
    differ = [not torch.equal(ta, tc) for ta, tc in zip(a[0], c[0]) if torch.count_nonzero(ta)]
    assert differ and all(differ)
    # x and y come from one generator, one after the other: they differ.
    assert not torch.equal(a[0][0], a[1][0])
    # The draw does not touch the global RNG.
    before = torch.random.get_rng_state()
    random_directions(model, seed=7)
    assert torch.equal(before, torch.random.get_rng_state())


def test_second_direction_is_the_next_draw_and_same_dir_repeats_the_first(model):
    [g1, g2] = gaussians(list(model.parameters()), seed=4, count=2)
    dx, dy = random_directions(model, seed=4, norm="none")
    for w, gx, gy, tx, ty in zip(model.parameters(), g1, g2, dx, dy):
        if w.dim() > 1:
            np.testing.assert_allclose(tx.numpy(), gx, rtol=1e-6)
            np.testing.assert_allclose(ty.numpy(), gy, rtol=1e-6)
    sx, sy = random_directions(model, seed=4, same_dir=True)
    for tx, ty in zip(sx, sy):
        assert torch.equal(tx, ty)


def test_target_direction_is_the_difference_of_the_weights():
    m1, m2 = make_model("tinycnn", seed=0), make_model("tinycnn", seed=1)
    d = target_direction(m1, m2)
    for w1, w2, t in zip(m1.parameters(), m2.parameters(), d):
        np.testing.assert_allclose(
            t.numpy(), (w2.detach().double() - w1.detach().double()).numpy(), rtol=1e-6, atol=1e-7
        )
    states = target_direction(m1, m2, "states")
    running = dict(zip(m1.state_dict(), states))["bn2.running_var"]
    torch.testing.assert_close(running, m2.bn2.running_var - m1.bn2.running_var)


def test_target_of_another_architecture_is_refused():
    with pytest.raises(ValueError, match="linear|conv|bn|layer"):
        target_direction(make_model("tinycnn"), make_model("resnet20"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"norm": "filters"}, "norm must be one of filter, layer, weight, none"),
        ({"ignore": "bias"}, "ignore must be one of biasbn, none"),
        ({"dir_type": "state"}, "dir_type must be one of weights, states"),
    ],
)
def test_bad_options_name_the_allowed_values(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_directions(model, seed=0, **kwargs)
