"""NNPACK where it cannot run: torch's C++ line "Could not initialize NNPACK! Reason: Unsupported hardware."
stays off the terminal, and no number changes. This machine's CPU runs NNPACK, so the one that cannot is
played by torch's probe answering as it does there: the line written to file descriptor 2, and False."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from workers.nnpack import quiet_nnpack

LINE = b"[W NNPACK.cpp:57] Could not initialize NNPACK! Reason: Unsupported hardware.\n"


@pytest.fixture
def nnpack_flag():
    """torch's NNPACK switch as it was, again after the test."""
    before = torch._C._get_nnpack_enabled()
    yield
    torch.backends.nnpack.set_flags(before)


def test_where_nnpack_cannot_run_its_line_stays_off_the_terminal_and_it_is_turned_off(monkeypatch, capfd, nnpack_flag):
    def unsupported_hardware() -> bool:
        os.write(2, LINE)  # as torch's C++ logging writes it
        return False

    monkeypatch.setattr(torch, "_nnpack_available", unsupported_hardware)
    assert quiet_nnpack.__wrapped__() is False
    assert torch._C._get_nnpack_enabled() is False  # torch asks no more: a convolution never runs on it
    os.write(2, b"after\n")  # stderr is the terminal again
    assert capfd.readouterr().err == "after\n"


def test_where_nnpack_runs_nothing_changes(capfd, nnpack_flag):
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(16, 3, 8, 8, generator=gen), torch.randn(4, 3, 3, 3, generator=gen)
    mkldnn = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(False)  # a batch that NNPACK, where usable, convolves
    try:
        before = F.conv2d(x, w)
        assert quiet_nnpack.__wrapped__() is torch.backends.nnpack.is_available()
        assert torch._C._get_nnpack_enabled() is True
        assert torch.equal(F.conv2d(x, w), before)
    finally:
        torch._C._set_mkldnn_enabled(mkldnn)
    assert capfd.readouterr().err == ""
