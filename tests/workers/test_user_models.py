"""The Python API with models a researcher brings: outputs that are dicts or tuples, tied weights, frozen
parameters, models in another dtype. Each surface is checked against the model's own loss computed with
plain torch, and the model passed in must come back exactly as it was."""

from __future__ import annotations

import copy
import json

import h5py
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from workers import SurfaceSpec, compute_surface, read_surface


def tokens(n: int = 12, vocab: int = 7, length: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (n, length), generator=gen), torch.randint(0, vocab, (n,), generator=gen)


def features(n: int = 12, dim: int = 10, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def spec(**kw) -> SurfaceSpec:
    return SurfaceSpec(**{"model": "mine", "batch_size": 8, "x": "-1:1:3", **kw})


class DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 4)

    def forward(self, x):
        return {"logits": self.fc(x), "features": x}


class TupleOut(DictOut):
    def forward(self, x):
        return self.fc(x), x


@pytest.mark.parametrize("cls, returned", [(DictOut, "a dict with keys 'logits', 'features'"), (TupleOut, "a tuple")])
def test_a_model_returning_a_dict_or_tuple_without_output_is_one_line(tmp_path, cls, returned):
    out = tmp_path / "s.h5"
    with pytest.raises(ValueError) as e:
        compute_surface(spec(), out, model=cls().eval(), data={"train": features()})
    assert str(e.value) == (
        f"the model returned {returned}, not a tensor; pass output=<key, index or function> to pick the one "
        "the loss takes"
    )
    assert not out.exists()


class Tied(nn.Module):
    """A language-model-like classifier whose output layer is its embedding (one Parameter, two modules)."""

    def __init__(self, vocab: int = 7, dim: int = 5):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mid = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, t):
        return self.out(torch.tanh(self.mid(self.emb(t).mean(1))))


def tied_model(seed: int = 0) -> Tied:
    torch.manual_seed(seed)
    return Tied().eval()


def moved_once(model: nn.Module, path, coord: float) -> nn.Module:
    """``model`` with every tensor the direction file names moved once by ``coord`` times its entry, by name."""
    out = copy.deepcopy(model)
    tensors = out.state_dict(keep_vars=True)
    with h5py.File(path, "r") as f, torch.no_grad():
        group = f["xdirection"]
        for i, name in enumerate(json.loads(group.attrs["names"])):
            tensors[name].add_(coord * torch.from_numpy(group[str(i)][()]))
    return out


def own_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return F.cross_entropy(model.eval()(x), y).item()


def test_tied_weights_move_once_and_the_direction_file_names_them_once(tmp_path):
    """The state dict names the tied tensor twice ('emb.weight', 'out.weight'); a ``states`` direction has
    one entry for it, so it is the ``weights`` direction of a model without buffers, and x = 1 is the model
    moved once by the file's directions."""
    model, data = tied_model(), {"train": tokens()}
    surfaces = {
        dir_type: compute_surface(
            spec(x="0:1:2", directions={"dir_type": dir_type}), tmp_path / f"{dir_type}.h5", model=model, data=data
        )
        for dir_type in ("weights", "states")
    }
    assert surfaces["states"].metrics["train_loss"].tolist() == surfaces["weights"].metrics["train_loss"].tolist()
    moved = moved_once(model, tmp_path / "states.dirs.h5", 1.0)
    assert moved.out.weight is moved.emb.weight
    assert surfaces["states"].metrics["train_loss"][1] == pytest.approx(own_loss(moved, *data["train"]), rel=1e-6)
    assert surfaces["states"].metrics["train_loss"][0] == pytest.approx(own_loss(model, *data["train"]), rel=1e-6)


def test_interpolation_between_two_tied_models_reaches_the_second(tmp_path):
    first, second, data = tied_model(0), tied_model(1), {"train": tokens()}
    torch.save(second.state_dict(), tmp_path / "second.pt")
    directions = {"kind": "target", "target": str(tmp_path / "second.pt")}
    s = compute_surface(spec(x="0:1:3", directions=directions), tmp_path / "s.h5", model=first, data=data)
    for ix, m in ((0, first), (2, second)):
        assert s.metrics["train_loss"][ix] == pytest.approx(own_loss(m, *data["train"]), rel=1e-6)


def mlp(seed: int = 0) -> nn.Sequential:
    """LayerNorm and Dropout, left in train mode as a user might pass it."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(10, 16), nn.LayerNorm(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4)).train()


def snapshot(model: nn.Module) -> list:
    """Everything of the model a call must leave as it was: values, dtypes, devices, requires_grad, mode."""
    tensors = [(n, t.detach().clone(), t.dtype, t.device) for n, t in model.state_dict(keep_vars=True).items()]
    return [tensors, [(n, p.requires_grad) for n, p in model.named_parameters()], [m.training for m in model.modules()]]


def assert_same(before: list, after: list) -> None:
    (t1, *rest1), (t2, *rest2) = before, after
    assert [(n, d, dev) for n, _, d, dev in t1] == [(n, d, dev) for n, _, d, dev in t2]
    assert all(torch.equal(a, b) for (_, a, _, _), (_, b, _, _) in zip(t1, t2))
    assert rest1 == rest2


def float64_loss_along(model: nn.Module, path, coord: float, x: torch.Tensor, y: torch.Tensor) -> float:
    """The loss of ``model`` (float64) moved by ``coord`` times the file's x direction, all in float64."""
    moved = moved_once(model, path, coord)
    with torch.no_grad():
        return F.cross_entropy(moved.eval()(x.double()), y).item()


def test_a_double_model_is_evaluated_in_float64_and_left_as_it_was(tmp_path):
    """A model the user made float64 is evaluated in float64 (float32 inputs are cast to it), recorded as
    fp64, and resumed; before, its weights were silently made float32 views and the first forward failed."""
    model, (x, y) = mlp().double(), features()
    before = snapshot(model)
    out = tmp_path / "d.h5"
    s = compute_surface(spec(), out, model=model, data={"train": (x, y)})
    assert_same(before, snapshot(model))
    assert s.recipe["compute"]["precision"] == "fp64"
    for ix, coord in enumerate((-1.0, 0.0, 1.0)):
        expected = float64_loss_along(model, tmp_path / "d.dirs.h5", coord, x, y)
        assert s.metrics["train_loss"][ix] == pytest.approx(expected, rel=1e-12)
    again = compute_surface(spec(), out, model=model, data={"train": (x, y)})  # resumes: the canary agrees
    assert again.metrics["train_loss"].tolist() == s.metrics["train_loss"].tolist()


def test_a_half_model_is_evaluated_in_float16(tmp_path):
    model, (x, y) = mlp().half(), features()
    before = snapshot(model)
    s = compute_surface(spec(y="-1:1:3"), tmp_path / "h.h5", model=model, data={"train": (x, y)})
    assert_same(before, snapshot(model))
    assert s.recipe["compute"]["precision"] == "fp16"
    with torch.no_grad():
        own = F.cross_entropy(copy.deepcopy(model).eval()(x.half()).float(), y).item()
    assert s.metrics["train_loss"][1, 1] == pytest.approx(own, rel=1e-6)


def test_float64_inputs_to_a_float32_model_are_cast_to_it(tmp_path):
    """Inputs made from numpy arrays are float64; the model is float32: the samples are cast to the model's
    dtype (as recorded in the samples' digest), not refused as samples that "do not fit"."""
    model, (x, y) = mlp(), features()
    s = compute_surface(spec(), model=model, data={"train": (x.double(), y)})
    assert s.recipe["compute"]["precision"] == "fp32"
    assert s.metrics["train_loss"][1] == pytest.approx(own_loss(copy.deepcopy(model), x, y), rel=1e-6)


def test_mixed_dtypes_and_float32_only_options_are_one_line(tmp_path):
    mixed = mlp()
    mixed[4].double()
    with pytest.raises(ValueError, match=r"^the model's weights mix float32 and float64; give it one dtype first"):
        compute_surface(spec(), tmp_path / "m.h5", model=mixed, data={"train": features()})
    with pytest.raises(ValueError, match=r"^fast works on float32 models only, this one is torch.float64: pass model"):
        compute_surface(spec(fast="fp32"), tmp_path / "m.h5", model=mlp().double(), data={"train": features()})
    assert not list(tmp_path.iterdir())


def test_a_float64_file_is_not_resumed_by_slightly_other_model_code(tmp_path):
    """The canary's tolerance follows the precision: fp64 values agree to ~1e-15, so a change of a LayerNorm's
    eps (in no state dict) is caught; at the bf16 tolerance it was let through."""
    model, data = mlp().double(), {"train": features()}
    compute_surface(spec(), tmp_path / "d.h5", model=model, data=data)
    other = copy.deepcopy(model)
    other[1].eps = 1e-3
    with pytest.raises(ValueError, match="by other model code or software: the canary point x=0 gives train_loss"):
        compute_surface(spec(), tmp_path / "d.h5", model=other, data=data)


def test_frozen_parameters_move_like_the_others_and_the_recipe_names_them(tmp_path):
    """A frozen parameter (requires_grad=False) is part of the network whose loss is plotted: the directions
    move it as the paper's move every parameter. The file's recipe names the frozen ones, the class and dtype;
    a resumed run that unfroze them continues the file (its values do not depend on it) and updates that record."""
    model, (x, y) = mlp(), features()
    for p in model[0].parameters():
        p.requires_grad_(False)
    before = snapshot(model)
    out = tmp_path / "f.h5"
    points: list = []
    first = compute_surface(
        spec(x="0:1:3"),
        out,
        model=model,
        data={"train": (x, y)},
        progress=points.append,
        should_stop=lambda: bool(points),
    )
    assert_same(before, snapshot(model))
    assert 0 < first.done.sum() < 3
    with h5py.File(tmp_path / "f.dirs.h5", "r") as f:
        assert "0.weight" in json.loads(f["xdirection"].attrs["names"])
    info = read_surface(out).recipe["model_info"]
    assert info == {
        "class": "torch.nn.modules.container.Sequential",
        "dtype": "float32",
        "trainable_params": sum(p.numel() for p in model.parameters()) - 10 * 16 - 16,
        "frozen": ["0.weight", "0.bias"],
    }
    for p in model.parameters():
        p.requires_grad_(True)
    s = compute_surface(spec(x="0:1:3"), out, model=model, data={"train": (x, y)})  # resumed: same values
    assert s.metrics["train_loss"][first.done].tolist() == first.metrics["train_loss"][first.done].tolist()
    assert s.metrics["train_loss"][2] == pytest.approx(own_loss(moved_once(model, tmp_path / "f.dirs.h5", 1.0), x, y))
    assert read_surface(out).recipe["model_info"]["frozen"] == []


def test_labels_beyond_the_picked_logits_are_one_line(tmp_path):
    """output= picks the logits of a built-in loss: the labels are checked against them before any point."""
    x, y = features(6)
    y[2] = 4  # DictOut has 4 outputs
    with pytest.raises(ValueError, match=r"^the train labels go up to 4 but model 'mine' has 4 outputs; give data"):
        compute_surface(spec(), tmp_path / "s.h5", model=DictOut().eval(), data={"train": (x, y)}, output="logits")
    assert not list(tmp_path.iterdir())


class Sequence(nn.Module):
    """Embedding, a transformer encoder layer (attention's in_proj), a grouped conv and a ConvTranspose."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 8)
        self.enc = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True)
        self.conv = nn.Conv1d(8, 8, 3, padding=1, groups=4)
        self.up = nn.ConvTranspose1d(8, 6, 2, stride=2)
        self.head = nn.Linear(6, 3)

    def forward(self, t):
        h = self.enc(self.emb(t)).transpose(1, 2)  # (N, 8, L)
        return self.head(self.up(self.conv(h)).mean(2))


def test_filters_are_dim0_slices_of_every_layer_kind_and_the_centre_is_the_models_loss(tmp_path):
    """Filter normalization scales every slice along dim 0 (DESIGN.md section 3; the reference code's rule):
    an embedding's row per token, a row of attention's in_proj (one q/k/v unit), a grouped conv's output
    filter, and a ConvTranspose's input channel (its weight is (in, out/groups, k)); 1-D tensors get 0."""
    torch.manual_seed(0)
    model = Sequence().train()
    before = snapshot(model)
    t, y = tokens(10, vocab=11, length=5)
    y = y % 3
    s = compute_surface(spec(y="-1:1:3"), tmp_path / "t.h5", model=model, data={"train": (t, y)})
    assert_same(before, snapshot(model))
    assert s.metrics["train_loss"][1, 1] == pytest.approx(own_loss(copy.deepcopy(model), t, y), rel=1e-6)
    with h5py.File(tmp_path / "t.dirs.h5", "r") as f:
        group = f["xdirection"]
        for i, name in enumerate(json.loads(group.attrs["names"])):
            d, w = torch.from_numpy(group[str(i)][()]).double(), dict(model.named_parameters())[name].detach().double()
            if w.dim() <= 1:
                assert not d.any(), name
            else:
                torch.testing.assert_close(d.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1), rtol=1e-6, atol=0)


def test_a_double_model_batched_over_points_equals_one_point_per_pass():
    """K points per pass (vmap over stacked weight sets) stacks them in the model's dtype too."""
    model, data = mlp().double(), {"train": features()}
    one = compute_surface(spec(y="-1:1:3"), model=model, data=data, points_per_pass=1)
    many = compute_surface(spec(y="-1:1:3"), model=model, data=data, points_per_pass=3)
    for name, values in one.metrics.items():
        torch.testing.assert_close(torch.from_numpy(many.metrics[name]), torch.from_numpy(values), rtol=1e-12, atol=0)
