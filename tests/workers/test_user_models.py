"""The Python API with models a researcher brings: outputs that are dicts or tuples, tied weights, frozen
parameters, models in another dtype. Each surface is checked against the model's own loss computed with
plain torch, and the model passed in must come back exactly as it was."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from workers import SurfaceSpec, compute_surface


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
