"""NNPACK, a CPU convolution library torch is built with, where it cannot run (some CPUs and virtual
machines, x86 emulation on Apple silicon): torch printed "Could not initialize NNPACK! Reason: Unsupported
hardware." on the user's terminal, from C++, in the middle of a run.

torch asks whether NNPACK is usable when a convolution might run on it (a CPU float32 batch that its
oneDNN kernels do not take: the single sample of a data check, a small last batch ...), and prints that
line when it is not. The convolution then runs on another kernel, as it would with NNPACK turned off.
:func:`quiet_nnpack` asks once, with the process's stderr set aside, and turns NNPACK off where it is not
usable, so that torch never asks again: no convolution ran on it before, none does after, and no number
changes. Where NNPACK is usable, nothing changes at all.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator

import torch


@functools.cache
def quiet_nnpack() -> bool:
    """Whether NNPACK is usable in this process; where it is not, it is turned off (asked once per process)."""
    with _stderr_set_aside():
        usable = bool(torch.backends.nnpack.is_available())
    if not usable:
        torch.backends.nnpack.set_flags(False)
    return usable


@contextlib.contextmanager
def _stderr_set_aside() -> Iterator[None]:
    """File descriptor 2 (where C++ code writes its warnings) points at the null device while the block runs."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr: nothing to keep clean
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
