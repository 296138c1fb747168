"""Checks of a surface's inputs made before any work or any write: the device, the output path, and data
that fits the model. Each failure is a ``ValueError`` whose one line names the fix, raised while nothing
has been written yet."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .progress import counted

DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(device: str | torch.device, remote: bool = False) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a device that exists here. ``remote``: the device is a Ray
    actor's, so only its name is checked (the machine running this may have no GPU)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device {str(device)!r} is not one of {', '.join(DEVICE_TYPES)}; use --device cuda for "
            "a GPU (cuda:N for one of several) or --device cpu"
        ) from None
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"device {str(device)!r} is not supported; use --device cpu or --device cuda")
    if dev.type == "cuda" and not remote:
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} asked for but torch sees no CUDA GPU; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            n = torch.cuda.device_count()
            raise ValueError(
                f"device {str(device)!r} asked for but torch sees {counted(n, 'CUDA GPU')}; use cuda:0 .. cuda:{n - 1}"
            )
    return dev


def check_data_dir(path: str | Path, option: str = "--data-dir") -> Path:
    """A server's or worker's data directory, created if missing: one that cannot be created or written is
    refused now, in one line, rather than as an OS error, or a job failed, later."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"the data directory {path} is a file; choose another {option}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(
            f"the data directory {path} cannot be created ({e.strerror}); choose another {option}"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"the data directory {path} is not writable; choose another {option}")
    return path


def check_out_path(out: str | Path, option: str = "--out", example: str = "surface.h5") -> Path:
    """The output file's directory must exist and be writable: found now rather than when the first
    point is written (and named as the user gave it, not as the temporary file beside it). ``option``
    names the command-line option that gave the path, ``example`` a file name to suggest."""
    out = Path(out)
    parent = out.parent
    if out.is_dir():
        raise ValueError(f"{option} {out} is a directory; give a file name such as {out / example}")
    if not parent.is_dir():
        raise ValueError(
            f"the directory of {option} {out} does not exist; create {parent} first or choose another {option}"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"the directory of {option} {out} is not writable; choose another {option}")
    return out


def check_not_an_input(out: str | Path, inputs: Iterable[tuple[str, str | Path | None]], option: str = "--out") -> None:
    """An output that is another file of the run (``inputs``: pairs of its option, as "the --checkpoint" or
    "a --checkpoints", and its path) is refused: resuming it fails, and ``--overwrite`` would replace it."""
    target = Path(out).resolve()
    for what, path in inputs:
        if path is not None and Path(path).resolve() == target:
            raise ValueError(f"{option} {out} is {what} file of this run; choose another {option}")


def check_data_fits(
    model: nn.Module,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    name: str,
    device: torch.device,
    output: Callable[[Any], torch.Tensor] = lambda raw: raw,
) -> None:
    """One sample of each split through the model: inputs of the wrong shape and labels beyond the
    model's outputs fail here with one line, not in the middle of the first grid point. ``output`` picks
    the logits from what the model returns (:func:`workers.objective.pick_output`; it refuses a dict).
    ``name`` is the model as the user named it (``--model``)."""
    with torch.inference_mode():
        for split, (x, y) in splits.items():
            if len(y) == 0:
                raise ValueError(f"the {split} split holds no samples")
            sample = tuple(x.shape[1:])
            try:
                raw = model(x[:1].to(device))
            except Exception as e:  # torch raises RuntimeError, ValueError, IndexError ... for shape errors
                reason = str(e).split("\n")[0]
                raise ValueError(
                    f"the {split} samples (shape {sample}) do not fit model {name!r} ({reason}); "
                    "give data of the shape the model was built for, or another model"
                ) from None
            logits = output(raw)
            if logits.dim() != 2:
                raise ValueError(
                    f"model {name!r} returns shape {tuple(logits.shape)} for one sample, not "
                    "(1, classes): a surface needs a classifier's logits"
                )
            classes = logits.shape[1]
            top = int(y.max())
            if top >= classes or int(y.min()) < 0:
                raise ValueError(
                    f"the {split} labels go up to {top} but model {name!r} has {classes} outputs; "
                    "give data with labels 0..classes-1 or a model with more outputs"
                )
