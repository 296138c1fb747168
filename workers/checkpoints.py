"""Loading model weights safely, and fingerprinting the files they come from."""

from __future__ import annotations

import difflib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .files import existing_file, unreadable_reason
from .h5io import HDF5_SIGNATURE
from .usermodels import user_model
from .zoo import create_model, list_models


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint as plain tensors.

    Loads with ``weights_only=True`` (no pickled code runs) onto the CPU. Accepts a bare state dict,
    ``{'state_dict': ...}`` / ``{'model': ...}`` wrappers (the paper's ``.t7`` files) and the
    ``module.`` prefix that ``nn.DataParallel`` adds.
    """
    path = existing_file(path, f"checkpoint {str(path)!r}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types (KeyError, UnpicklingError, RuntimeError) for foreign files
        raise ValueError(f"checkpoint {str(path)!r} {why_not_loaded(path, e)}") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"checkpoint {str(path)!r} holds no state dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
_SAVE_HINT = "pass a file saved with torch.save(model.state_dict())"


def why_not_loaded(path: Path, error: Exception, fix: str | None = None) -> str:
    """Why torch could not load ``path``, one line, after the words "checkpoint 'PATH'", ending with ``fix``
    (default: what fixes a checkpoint given to a command). The file's first bytes tell a surface file sent
    by mistake and a cut-short checkpoint from the rest (torch's own messages for them speak of pickles or
    of an "internal miniz error")."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_SIGNATURE):
        return f"is an HDF5 file (a loss surface or direction file?), not a PyTorch checkpoint; {fix or _SAVE_HINT}"
    if head.startswith(_ZIP_MAGIC) and not zipfile.is_zipfile(path):
        return (
            "is truncated or damaged: it starts as a PyTorch checkpoint but its archive does not end properly; "
            f"{fix or 'copy the whole file again'}"
        )
    if head.startswith(_ZIP_MAGIC) and "Weights only load failed" not in str(error):
        return f"is damaged or not a PyTorch checkpoint (a zip archive torch cannot read); {fix or _SAVE_HINT}"
    return f"is not a weights file torch can load safely ({unreadable_reason(error)}); {fix or _SAVE_HINT}"


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """`` (did you mean tinycnn?)`` when ``name`` looks like a mistyped one of ``names`` (a model's: a letter
    left out, doubled or changed, capitals), else ``""``: for the one-line refusal of an unknown name. None
    for a name as close to two of them (resnet2: resnet20 or resnet32?), nor for one further off than a letter
    in seven (resnet18 is not resnet110, nor resnet resnet56)."""
    ratios = sorted(((difflib.SequenceMatcher(None, name.lower(), n).ratio(), n) for n in names), reverse=True)
    if not ratios or ratios[0][0] < 0.86 or (len(ratios) > 1 and ratios[1][0] == ratios[0][0]):
        return ""
    return f" (did you mean {ratios[0][1]}?)"


def build_model(name: str, args: dict[str, Any] | None = None) -> nn.Module:
    """A zoo model by name, or a user's model given as ``package.module:function`` (imported from the
    current directory as ``python -m`` does), called with the keyword arguments ``args``."""
    if ":" in name:
        return user_model(name, args)
    if name not in list_models():
        raise ValueError(
            f"unknown model {name!r}{did_you_mean(name, list_models())}: use a zoo name ({', '.join(list_models())}) "
            "or 'package.module:function'"
        )
    try:
        return create_model(name, **(args or {}))
    except TypeError as e:
        raise ValueError(f"zoo model {name!r} does not take the arguments {args}: {e}") from None


INIT_SEED = 0


def load_model(name: str, checkpoint: str | Path | None, args: dict[str, Any] | None = None) -> nn.Module:
    """Build a model and load its checkpoint with strict key matching; returns it in eval mode.

    Without a checkpoint the model keeps its initialisation, drawn from seed :data:`INIT_SEED` so that
    every process builds the same weights (a resumed surface must continue on the same model).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        model = build_model(name, args)
    if checkpoint is not None:
        load_fitting(model, load_state_dict(checkpoint), str(checkpoint), name)
    return model.eval()


def load_fitting(model: nn.Module, state: dict[str, torch.Tensor], label: str, name: str) -> None:
    """Load ``state`` (checkpoint ``label``) into ``model`` (model ``name``) with strict key matching; a
    state of another architecture is refused in one line naming the keys that differ and the fix: the zoo
    model that holds weights of its names and shapes, when one does."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fitting = _zoo_models_fitting(state)
        fix = (  # in words of the command line and of the API alike
            f"it holds the weights of {' or '.join(fitting)}: choose that model"
            if fitting
            else f"give a checkpoint of {name}, or choose the model it was saved from"
        )
        raise ValueError(f"checkpoint {label!r} does not fit model {name!r}: {_mismatch(model, state)}; {fix}") from e


def _zoo_models_fitting(state: dict[str, torch.Tensor]) -> list[str]:
    """The zoo's models whose weights have the names and shapes of ``state``'s (a checkpoint given with
    another --model), built on the meta device: no memory, no time, no random numbers drawn."""

    def shapes(items) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in items if not k.endswith("num_batches_tracked")}

    given, fitting = shapes(state.items()), []
    with torch.random.fork_rng(devices=[]):
        for name in list_models():
            with torch.device("meta"):
                model = create_model(name)
            if shapes(model.state_dict().items()) == given:
                fitting.append(name)
    return fitting


def _mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """One line naming the first few keys that differ between a model and a state dict."""
    expected = model.state_dict()
    # BatchNorm fills in num_batches_tracked for checkpoints written before it existed.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{len(keys)} {label}: {', '.join(keys[:3])}{more}")
    return "; ".join(problems)
