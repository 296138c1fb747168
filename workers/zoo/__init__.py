"""Model zoo: a name -> constructor registry.

Names are the public API (``create_model("resnet56")``); families live one per file and register
their entry points with :func:`register_model`, as timm does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its function name; a duplicate name warns and replaces."""
    name = fn.__name__
    if name in _REGISTRY:
        warnings.warn(f"zoo: model {name!r} registered twice; the later definition wins", stacklevel=2)
    _REGISTRY[name] = fn
    return fn


def list_models() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a zoo model by name (randomly initialised; load a checkpoint to get trained weights)."""
    try:
        fn = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; zoo models are: {', '.join(list_models())}") from None
    return fn(**kwargs)


def num_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters())


# Importing the families fills the registry.
from . import densenet, resnet, small, vgg  # noqa: E402,F401
