"""Any loss through the Python API (#16): regression and multi-label losses with or without an accuracy,
models returning dicts or tuples, data as a DataLoader or any iterable of batches. Each surface point is
checked against the hand-perturbed model evaluated with plain torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from independent import perturbed, read_direction_file
from torch.utils.data import DataLoader, TensorDataset

from workers import SurfaceSpec, compute_surface, read_surface


class Regressor(nn.Module):
    """x (N, 4) -> y (N, 2), returned as a dict beside an unused tensor (a Hugging Face-like output)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))

    def forward(self, x):
        return {"prediction": self.net(x), "hidden": x.sum(1)}


def regression_data(n: int = 37, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    return x, torch.stack([x[:, 0] - x[:, 1], x[:, 2] * x[:, 3]], 1)  # float targets (N, 2)


def spec(**kw) -> SurfaceSpec:
    return SurfaceSpec(**{"model": "user", "dataset": "tensors", "batch_size": 8, "x": "-1:1:5", **kw})


def squared_error(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((out - target) ** 2).mean(dim=1)  # (N,)


def within_half(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((out - target).abs() < 0.5).all(dim=1)  # (N,) bool


@pytest.fixture
def regressor() -> Regressor:
    torch.manual_seed(0)
    return Regressor().eval()


def test_regression_loss_with_dict_output_and_no_accuracy(tmp_path, regressor):
    x, y = regression_data()
    out = tmp_path / "r.h5"
    s = compute_surface(spec(), out, model=regressor, data={"train": (x, y)}, loss=squared_error, output="prediction")
    assert set(s.metrics) == {"train_loss"}  # no accuracy asked, none stored
    dirs = read_direction_file(tmp_path / "r.dirs.h5")
    for ix, xv in enumerate(np.linspace(-1, 1, 5)):
        with torch.no_grad():
            pred = perturbed(regressor, dirs, (xv,))(x)["prediction"].double()
        want = ((pred - y.double()) ** 2).mean().item()  # mean over samples and outputs: one formula
        np.testing.assert_allclose(s.metrics["train_loss"][ix], want, rtol=1e-6)
    recipe = read_surface(out).recipe
    assert recipe["objective"] == {"loss": f"{__name__}.squared_error", "accuracy": None, "output": "'prediction'"}


def test_accuracy_callable_and_output_function_with_a_tuple_model(regressor):
    x, y = regression_data()

    class TupleModel(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            d = self.inner(x)
            return d["hidden"], d["prediction"]

    s = compute_surface(
        spec(),
        model=TupleModel(regressor),
        data={"train": (x, y)},
        loss=squared_error,
        accuracy=within_half,
        output=lambda raw: raw[1],
    )
    by_index = compute_surface(
        spec(), model=TupleModel(regressor), data={"train": (x, y)}, loss=squared_error, accuracy=within_half, output=1
    )
    with torch.no_grad():
        pred = regressor(x)["prediction"]
    centre = 2
    assert s.metrics["train_acc"][centre] == pytest.approx(
        100.0 * ((pred - y).abs() < 0.5).all(1).float().mean().item()
    )
    for m in s.metrics:
        np.testing.assert_array_equal(s.metrics[m], by_index.metrics[m])


def test_multilabel_loss_with_a_per_label_accuracy():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(30, 6, generator=gen)
    y = (torch.rand(30, 3, generator=gen) < 0.5).float()  # three independent labels
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 3)).eval()

    def bce(out, target):
        return nn.functional.binary_cross_entropy_with_logits(out, target, reduction="none").mean(1)

    def label_accuracy(out, target):
        return ((out > 0).float() == target).float().mean(1)  # share of labels right, per sample

    s = compute_surface(spec(x="0:0:1"), model=model, data={"train": (x, y)}, loss=bce, accuracy=label_accuracy)
    with torch.no_grad():
        logits = model(x).double()
    p = torch.sigmoid(logits)
    want = -(y * p.log() + (1 - y) * (1 - p).log()).mean().item()
    np.testing.assert_allclose(s.metrics["train_loss"][0], want, rtol=1e-5)
    assert s.metrics["train_acc"][0] == pytest.approx(100.0 * ((logits > 0).double() == y).double().mean().item())


def test_a_shuffling_dataloader_and_a_generator_give_the_same_surface_as_tensors(model, data):
    """The data is read once: a shuffled order is frozen for all points, and a one-shot generator works."""
    sp = SurfaceSpec(model="tinycnn", dataset="tensors", batch_size=16, x="-1:1:3", y="-1:1:3", split="both")
    plain = compute_surface(sp, model=model, data=data)

    def loader(split):
        return DataLoader(
            TensorDataset(*data[split]), batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(0)
        )

    loaded = compute_surface(sp, model=model, data={k: loader(k) for k in data})
    # the one order the loader drew, applied to the tensors by hand: the surface of exactly those samples
    orders = {k: torch.cat([xb for xb, _ in loader(k)]) for k in data}
    perm = {k: [int((data[k][0] == row).flatten(1).all(1).nonzero()) for row in orders[k]] for k in data}
    assert all(sorted(p) == list(range(len(data[k][1]))) and p != sorted(p) for k, p in perm.items())
    reordered = compute_surface(sp, model=model, data={k: (data[k][0][p], data[k][1][p]) for k, p in perm.items()})

    def batches(x, y):
        for i in range(0, len(y), 7):
            yield x[i : i + 7], y[i : i + 7]

    generated = compute_surface(sp, model=model, data={k: batches(*v) for k, v in data.items()})
    for name in plain.metrics:
        np.testing.assert_array_equal(generated.metrics[name], plain.metrics[name])
        np.testing.assert_array_equal(loaded.metrics[name], reordered.metrics[name])
        np.testing.assert_allclose(loaded.metrics[name], plain.metrics[name], rtol=1e-6)  # same samples, new sums


def test_bad_losses_and_outputs_are_one_line(regressor, model, data):
    x, y = regression_data()
    with pytest.raises(
        ValueError,
        match=r"the model returned a dict with keys 'prediction', 'hidden', not a tensor; "
        r"pass output=<key, index or function>",
    ):
        compute_surface(spec(), model=regressor, data={"train": (x, y)}, loss=squared_error)
    with pytest.raises(
        ValueError, match=r"must return one value per sample, shape \(8,\), got \(\); use reduction='none'"
    ):
        compute_surface(
            spec(),
            model=regressor,
            data={"train": (x, y)},
            output="prediction",
            loss=lambda o, t: ((o - t) ** 2).mean(),
        )
    with pytest.raises(ValueError, match="output='logits': the model's dict output has no such entry"):
        compute_surface(spec(), model=regressor, data={"train": (x, y)}, loss=squared_error, output="logits")
    with pytest.raises(ValueError, match="batch 0 is not an \\(inputs, targets\\) pair"):
        compute_surface(spec(), model=regressor, data={"train": [x]}, loss=squared_error, output="prediction")
    with pytest.raises(ValueError, match="accuracy must be 'auto', 'top1', None or a callable"):
        compute_surface(spec(), model=model, data=data, accuracy="top5")
    with pytest.raises(ValueError, match="a custom loss, accuracy or output is evaluated one point per pass"):
        compute_surface(
            spec(), model=regressor, data={"train": (x, y)}, loss=squared_error, output="prediction", points_per_pass=2
        )
    with pytest.raises(ValueError, match="the Hessian maps use the spec's built-in loss"):
        compute_surface(
            spec(hessian={}), model=regressor, data={"train": (x, y)}, loss=squared_error, output="prediction"
        )


def test_another_loss_against_an_existing_file_is_refused(tmp_path, regressor):
    x, y = regression_data()
    out = tmp_path / "r.h5"
    compute_surface(spec(), out, model=regressor, data={"train": (x, y)}, loss=squared_error, output="prediction")

    def absolute_error(o, t):
        return (o - t).abs().mean(1)

    with pytest.raises(ValueError, match="computed with other settings .*objective.loss"):
        compute_surface(spec(), out, model=regressor, data={"train": (x, y)}, loss=absolute_error, output="prediction")


@pytest.mark.parametrize("accuracy", ["top1", within_half], ids=["top1", "callable"])
def test_a_sample_whose_outputs_are_nan_has_no_accuracy(accuracy):
    """argmax reads NaN as the largest value: a network gone NaN scored the share of one class (10% on
    CIFAR-10) where its loss was NaN. A sample with a NaN output has no prediction: the accuracy is NaN."""
    from workers.objective import make_objective

    outputs = torch.tensor([[0.0, 2.0], [float("nan"), 0.0], [3.0, 0.0]])
    targets = torch.tensor([1, 0, 0]) if accuracy == "top1" else torch.tensor([[0.0, 2.0], [0.0, 0.0], [3.0, 0.0]])
    objective = make_objective("ce" if accuracy == "top1" else squared_error, accuracy)
    _, correct = objective.batch(outputs, targets)
    assert torch.isnan(correct)
    _, correct = objective.batch(outputs[[0, 2]], targets[[0, 2]])  # the others: both right
    assert correct.item() == 2
