"""SurfaceSpec validation: bad recipes are refused with the reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workers.spec import SurfaceSpec


def test_axes_accept_strings_and_dicts_alike():
    a = SurfaceSpec(model="tinycnn", x="-1:1:5", y={"min": 0, "max": 2, "num": 3})
    assert (a.x.min, a.x.max, a.x.num) == (-1, 1, 5)
    assert a.ndim == 2 and a.num_points == 15
    assert SurfaceSpec.model_validate(a.model_dump(mode="json")) == a
    assert SurfaceSpec(model="tinycnn", x="-1:1:5").ndim == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": "1:-1:5"}, "min must be below max"),
        ({"x": "-1:1:5", "y": "0:1:2000"}, "less than or equal to 1001"),
        ({"x": "-1:1:5", "directions": {"same_dir": True}}, "same_dir needs a 2-D grid"),
        ({"x": "-1:1:5", "directions": {"kind": "target"}}, "need a target checkpoint"),
        ({"x": "-1:1:5", "directions": {"target": "a.t7"}}, "only used with directions of kind 'target'"),
        ({"x": "-1:1:5", "mean": (0.5,)}, "give mean and std together"),
        ({"x": "-1:1:5", "mean": (0.5,), "std": (0.0,)}, "std values must be positive"),
        ({"x": "-1:1:5", "directions": {"norm": "filters"}}, "norm"),
        ({"x": "-1:1:5", "split": "val"}, "split"),
        ({"x": "-1:1:5", "samples": 0}, "samples"),
        ({"x": "-1:1:5", "sample_seed": -1}, "sample_seed\n  Input should be greater than or equal to 0"),
        (
            {"x": "-1:1:5", "sample_seed": 2**64},
            "sample_seed\n  Input should be less than or equal to 18446744073709551615",
        ),
        ({"x": "-1:1:5", "directions": {"seed": -1}}, "directions.seed\n  Input should be greater than or equal to 0"),
        ({"x": "-1:1:5", "batchsize": 3}, "batchsize"),
        ({"x": "-1:1:5", "hessian": {"tol": float("nan")}}, "hessian.tol\n  Input should be a finite number"),
        ({"x": "-1:1:5", "mean": (float("inf"),), "std": (1.0,)}, "mean.0\n  Input should be a finite number"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        SurfaceSpec(model="tinycnn", **kwargs)


def test_metrics_follow_the_split():
    assert SurfaceSpec(model="m", x="0:1:2").metrics == ["train_loss", "train_acc"]
    assert SurfaceSpec(model="m", x="0:1:2", split="both").metrics == [
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
    ]
