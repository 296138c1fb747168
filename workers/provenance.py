"""What a surface's values depend on, recorded in its recipe so that a resumed run can prove it continues
the same computation, and refuse when it does not.

- ``weights_sha256``: the model's weights and buffers as loaded (after the checkpoint), whatever their
  source: a zoo name, a user's model object, a checkpoint file replaced under the same name.
- ``samples``: per split, the count, shape and sha256 of the sample tensors actually evaluated (after
  decoding, subsetting and normalization), so that a replaced data file is caught.
- ``compute``: how the values were computed (device, precision, fast mode, torch, CPU flags).
- changed model code leaves all of these equal (ReLU -> Tanh has no weights): on resume one finished
  point is computed again (the canary) and compared with the file at the tolerance of its precision.
"""

from __future__ import annotations

import hashlib
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

# Relative tolerance of the canary per precision. Exact fp32 runs differ only in summation order (threads,
# vectorized kernels of another CPU): about 1e-6 relative; fp16 keeps 11 bits of mantissa, bf16 8.
CANARY_RTOL = {"fp64": 1e-6, "fp32": 1e-4, "tf32": 2e-3, "fp16": 2e-3, "bf16": 2e-2}

_CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "sve",
)


class StaleSurfaceError(ValueError):
    """An existing surface file does not hold what this run would compute.

    ``what`` completes "``path`` was computed ..." (e.g. "from other model weights (...)"); the message
    offers ``overwrite=True``; the command line names its own ``--overwrite``.
    """

    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what
        super().__init__(
            f"{path} was computed {what}; recompute it with overwrite=True "
            "(lossatlas compute --overwrite) or choose another output file"
        )


def _tensor_bytes(t: torch.Tensor) -> np.ndarray:
    """The tensor's memory as a uint8 array (no copy for a contiguous CPU tensor), any dtype."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()


def weights_digest(model: nn.Module) -> str:
    """sha256 over the state dict: every name, dtype, shape and value (parameters and buffers)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()


def samples_record(splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, dict[str, Any]]:
    """Per split: ``count``, ``shape`` of one sample and ``sha256`` of the inputs and labels evaluated."""
    out = {}
    for name, (x, y) in splits.items():
        h = hashlib.sha256()
        for t in (x, y):
            h.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(_tensor_bytes(t))
        out[name] = {"count": int(len(y)), "shape": list(x.shape[1:]), "sha256": h.hexdigest()}
    return out


@lru_cache(maxsize=1)
def _cpu_info() -> tuple[str, str]:
    """(model name, space-separated flags of interest) from /proc/cpuinfo; empty where there is none."""
    name, flags = platform.processor(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return name, ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            name = value.strip()
        elif key in ("flags", "Features"):
            flags |= set(value.split())
    return name, " ".join(f for f in _CPU_FLAGS if f in flags)


def compute_record(device: torch.device, precision: str, fast: bool | str) -> dict[str, Any]:
    """The ``recipe["compute"]`` block: how this run computes its points."""
    cpu_name, flags = _cpu_info()
    record: dict[str, Any] = {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name,
        "precision": precision,
        "fast": fast,
        "torch": str(torch.__version__),
        "cpu_flags": flags,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    return record


def compute_class(record: dict[str, Any]) -> str:
    """What must be equal for two runs to share a file: device type, precision and fast mode.

    CPU and CUDA in exact fp32 are kept apart too: both are float32 with TF32 off, but their kernels
    sum in other orders and cuDNN picks algorithms per GPU, so a surface would hold points of two
    computations; the recipe could then not say how "the" surface was computed.
    """
    return f"{record.get('device')} {record.get('precision')} {'fast' if record.get('fast') else 'exact'}"


def merge_compute(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The file's compute block after a resumed run of the same class: the first run's block, with
    every later environment that differs (torch, CPU, GPU) listed under ``resumed_on``."""
    keys = ("device_name", "torch", "cpu_flags", "cpu_capability")
    env = {k: new.get(k) for k in keys}
    merged = dict(old)
    seen = [{k: old.get(k) for k in keys}, *old.get("resumed_on", [])]
    if env not in seen:
        merged["resumed_on"] = [*old.get("resumed_on", []), env]
    return merged


def canary_mismatch(
    stored: dict[str, float], now: dict[str, float], precision: str, counts: dict[str, int]
) -> str | None:
    """The first metric whose recomputed value differs from the stored one beyond the tolerance of
    ``precision`` (accuracy: also one sample), as ``"train_loss 2.3177 in the file, 2.5012 now"``."""
    rtol = CANARY_RTOL.get(precision, CANARY_RTOL["bf16"])
    for name, old in stored.items():
        if name in ("max_eig", "min_eig"):  # Lanczos estimates to a tolerance: the losses are the check
            continue
        new = now[name]
        if np.isnan(old) and np.isnan(new):
            continue
        if name.endswith("_acc"):
            count = counts.get(name.rsplit("_", 1)[0], 1)
            ok = abs(new - old) <= 100.0 / count + 100.0 * rtol + 1e-9
        else:
            ok = bool(np.isclose(new, old, rtol=rtol, atol=1e-7))
        if not ok:
            return f"{name} {old:.6g} in the file, {new:.6g} now"
    return None
