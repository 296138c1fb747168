"""A surface file is never resumed from other weights, data, precision or model code (#8): each is refused
with a line naming the change and the file left as it was; ``overwrite=True`` recomputes it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from independent import make_model, plain_metrics

from workers import SurfaceSpec, compute_surface, read_surface, write_surface
from workers.zoo.small import TinyCNN


def spec(**kwargs) -> SurfaceSpec:
    base = dict(model="tinycnn", dataset="tensors", batch_size=16, x="-1:1:3", y="-1:1:3")
    return SurfaceSpec(**{**base, **kwargs})


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def times_three(model):
    out = copy.deepcopy(model)
    with torch.no_grad():
        for p in out.parameters():
            p.mul_(3)
    return out


def other_data(data):
    gen = torch.Generator().manual_seed(9)
    return {k: (torch.randn(x.shape, generator=gen), y) for k, (x, y) in data.items()}


class TanhCNN(TinyCNN):
    """TinyCNN with tanh for ReLU: the same weights and names, other code."""

    def forward(self, x):
        out = torch.tanh(self.bn1(self.conv1(x)))
        out = torch.tanh(self.bn2(self.conv2(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def tanh_copy(model):
    out = TanhCNN().eval()
    out.load_state_dict(model.state_dict())
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m, d: (times_three(m), d), "from other model weights (sha256 of the weights and buffers as loaded: "),
        (lambda m, d: (m, other_data(d)), "on other data (train: 48 samples of 3x8x8, sha256 "),
        (
            lambda m, d: (tanh_copy(m), d),
            "by other model code or software: the canary point x=0, y=-1 gives train_loss ",
        ),
    ],
)
def test_changed_inputs_are_refused_naming_the_change_and_overwrite_recomputes(tmp_path, model, data, change, message):
    out = tmp_path / "s.h5"
    partial: list = []
    compute_surface(spec(), out, model=model, data=data, progress=partial.append, should_stop=lambda: len(partial) >= 5)
    before = files(tmp_path)
    new_model, new_data = change(model, data)
    with pytest.raises(ValueError) as e:
        compute_surface(spec(), out, model=new_model, data=new_data)
    assert message in str(e.value) and str(e.value).startswith(f"{out} was computed ")
    assert "overwrite=True" in str(e.value) and "\n" not in str(e.value)
    assert files(tmp_path) == before

    redone = compute_surface(spec(), out, model=new_model, data=new_data, overwrite=True)
    assert redone.is_complete
    loss, acc = plain_metrics(new_model, *new_data["train"])  # the centre: the new model on the new data
    np.testing.assert_allclose(redone.metrics["train_loss"][1, 1], loss, rtol=1e-6)
    assert redone.metrics["train_acc"][1, 1] == pytest.approx(acc)
    fresh = compute_surface(spec(), tmp_path / "fresh.h5", model=new_model, data=new_data)
    np.testing.assert_array_equal(read_surface(out).metrics["train_loss"], fresh.metrics["train_loss"])
    compute_surface(spec(), out, model=new_model, data=new_data)  # and it now resumes


def test_the_canary_passes_on_an_unchanged_resume_and_is_not_reported_as_progress(tmp_path, model, data):
    out = tmp_path / "s.h5"
    compute_surface(spec(), out, model=model, data=data)
    before = files(tmp_path)
    seen: list = []
    again = compute_surface(spec(), out, model=model, data=data, progress=seen.append)
    assert seen == [] and again.is_complete and files(tmp_path) == before


def test_overwrite_keeps_the_old_file_until_the_new_run_writes(tmp_path, model, data):
    out = tmp_path / "s.h5"
    compute_surface(spec(), out, model=model, data=data)
    before = files(tmp_path)
    stopped = compute_surface(
        spec(), out, model=times_three(model), data=data, overwrite=True, should_stop=lambda: True
    )
    assert not stopped.done.any() and files(tmp_path) == before
    with pytest.raises(ValueError, match="do not fit model"):  # a failing overwrite loses nothing either
        compute_surface(
            spec(), out, model=model, data={"train": (torch.randn(4, 5, 8, 8), torch.zeros(4).long())}, overwrite=True
        )
    assert files(tmp_path) == before


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("precision", "bf16", "as cpu bf16 exact, this run would compute cpu fp32 exact; one file never mixes them"),
        ("device", "cuda", "as cuda fp32 exact, this run would compute cpu fp32 exact"),
    ],
)
def test_a_file_of_another_precision_or_device_is_not_resumed(tmp_path, model, data, field, value, message):
    out = tmp_path / "s.h5"
    s = compute_surface(spec(), out, model=model, data=data)
    s.recipe["compute"][field] = value  # as if computed on another machine
    s.done[0, 0] = False
    write_surface(out, s)
    before = files(tmp_path)
    with pytest.raises(ValueError, match=message):
        compute_surface(spec(), out, model=model, data=data)
    assert files(tmp_path) == before


def test_a_file_without_digests_is_not_resumed(tmp_path, model, data):
    out = tmp_path / "s.h5"
    s = compute_surface(spec(), out, model=model, data=data)
    for key in ("weights_sha256", "samples", "compute"):
        del s.recipe[key]
    write_surface(out, s)
    with pytest.raises(ValueError, match="by an older lossatlas that recorded no digest"):
        compute_surface(spec(), out, model=model, data=data)


def _cpu_flags() -> set[str]:
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith(("flags", "Features")):
            flags |= set(line.split(":", 1)[1].split())
    return flags


@pytest.mark.parametrize("fast", [False, True, "bf16"])
def test_the_recipe_says_how_the_surface_was_computed(tmp_path, model, data, fast):
    s = compute_surface(spec(fast=fast), tmp_path / "s.h5", model=model, data=data)
    c = read_surface(tmp_path / "s.h5").recipe["compute"]
    assert c == s.recipe["compute"]
    flags = _cpu_flags()
    bf16 = fast == "bf16" and bool({"avx512_bf16", "amx_bf16"} & flags)  # on a CPU, bf16 only when named
    assert c["device"] == "cpu" and c["fast"] == fast and c["precision"] == ("bf16" if bf16 else "fp32")
    assert c["torch"] == torch.__version__ and c["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(c["cpu_flags"].split()) <= flags and ("avx2" in c["cpu_flags"].split()) == ("avx2" in flags)
    assert (
        s.recipe["weights_sha256"]
        != compute_surface(spec(), model=times_three(model), data=data).recipe["weights_sha256"]
    )
    assert s.recipe["samples"]["train"]["count"] == 48 and s.recipe["samples"]["train"]["shape"] == [3, 8, 8]


def test_a_resume_on_another_torch_build_is_listed(tmp_path, model, data):
    out = tmp_path / "s.h5"
    s = compute_surface(spec(), out, model=model, data=data)
    s.recipe["compute"]["torch"] = "0.0.1"
    s.done[0, 0] = False
    write_surface(out, s)
    resumed = compute_surface(spec(), out, model=model, data=data)
    c = read_surface(out).recipe["compute"]
    assert c["torch"] == "0.0.1" and c["resumed_on"][0]["torch"] == torch.__version__
    assert resumed.recipe["compute"] == c


def test_another_checkpoint_file_under_the_same_name_is_refused_as_other_weights(tmp_path, data):
    ckpt = tmp_path / "m.pt"
    torch.save(make_model("tinycnn", seed=1).state_dict(), ckpt)
    sp = spec(checkpoint=str(ckpt))
    compute_surface(sp, tmp_path / "s.h5", data=data)
    torch.save(make_model("tinycnn", seed=2).state_dict(), ckpt)
    with pytest.raises(ValueError, match="from other model weights"):
        compute_surface(sp, tmp_path / "s.h5", data=data)
