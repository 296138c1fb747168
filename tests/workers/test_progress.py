"""Progress: a tqdm bar in a terminal, plain lines in a log (no carriage returns or escape codes); the
engine's rate and time left when given (resumed surfaces), a measured one otherwise; the ``train`` bar
shows a real rate (#16: it showed "0.00 steps/s left --:--")."""

from __future__ import annotations

import io
import re
import sys
import time

import pytest

from workers.cli import main
from workers.progress import ProgressBar, duration, percent


class Terminal(io.StringIO):
    """What a terminal's stream says of itself: tqdm draws its bar there."""

    def isatty(self) -> bool:
        return True


def last_line(text: str) -> str:
    return [line for line in re.split(r"[\r\n]", text) if line.strip()][-1]


def train_args(npz, out) -> list[str]:
    return ["train", "--model", "tinycnn", "--data", "tensors", "--data-root", str(npz), "--epochs", "2"] + [
        "--batch-size",
        "64",
        "--out",
        str(out),
    ]


def test_a_terminal_gets_the_given_rate_and_eta_of_a_resumed_run():
    out = Terminal()
    bar = ProgressBar(12, stream=out, interval=0)
    bar.update(10, 0.5, 4.0, "3 new")  # 7 points were already in the file
    bar.update(12, 0.5, 0.0, "5 new")
    assert "\r" in out.getvalue()  # redrawn in place
    assert last_line(out.getvalue()).endswith("| 12/12 pts, 0.50 pts/s, left 00:00, 5 new")


def test_a_terminal_bar_measures_the_rate_when_none_is_given_and_shows_it_as_a_given_one():
    """tqdm's own rate read ``6.58steps/s``, padded below 10 steps/s (`` 6.58``: a loaded machine's)."""
    out = Terminal()
    bar = ProgressBar(4, unit="steps", stream=out, interval=0, desc="epoch 1/1")
    for step in range(1, 5):
        time.sleep(0.15)  # at least: the rate is at most 4 / 0.6 steps/s
        bar.update(step, extra="loss 1.000")
    line = last_line(out.getvalue())
    rate = float(re.search(r"\| 4/4 steps, ([0-9]\.[0-9]{2}) steps/s, left 00:00, loss 1.000$", line).group(1))
    assert line.startswith("epoch 1/1: 100%") and 0 < rate <= 4 / 0.6


def test_a_log_gets_plain_lines_with_the_given_rate():
    out = io.StringIO()  # a file or a pipe: not a terminal
    bar = ProgressBar(12, stream=out, interval=0)
    bar.update(10, 0.5, 4.0, "3 new")
    bar.update(12, 0.5, 0.0, "5 new")
    assert out.getvalue() == (
        "10/12 pts (83%), 0.50 pts/s, left 00:04, 3 new\n12/12 pts (100%), 0.50 pts/s, left 00:00, 5 new\n"
    )


def test_a_log_gets_a_line_per_interval_and_the_last_state_on_close():
    out = io.StringIO()
    bar = ProgressBar(100, unit="steps", stream=out, interval=3600, desc="epoch 1/2")
    for step in range(1, 41):
        bar.update(step, extra="loss 1.000")
    assert out.getvalue() == ""  # not an hour yet
    bar.close()  # interrupted at step 40: the log still says where
    (line,) = out.getvalue().splitlines()
    rate = float(re.fullmatch(r"epoch 1/2: 40/100 steps \(40%\), ([0-9.]+) steps/s, left \S+, loss 1.000", line)[1])
    assert rate > 0
    bar.update(50)
    bar.close()
    assert out.getvalue().count("\n") == 1  # nothing after close


def test_train_into_a_log_writes_plain_lines_with_a_measured_rate(learnable_npz, tmp_path, capsys):
    assert main(train_args(learnable_npz, tmp_path / "run")) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    ends = [line for line in err.splitlines() if "4/4 steps" in line]
    assert [line.split(":")[0] for line in ends] == ["epoch 1/2", "epoch 2/2"]  # one bar per epoch, each ended
    rate = float(re.search(r"4/4 steps \(100%\), ([0-9.]+) steps/s, left 00:00, loss ", ends[0]).group(1))
    assert rate > 0


def test_train_in_a_terminal_draws_one_bar_per_epoch(learnable_npz, tmp_path, monkeypatch):
    """A bar per step (never closed) stacked tqdm bars, moved between with escape codes."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(train_args(learnable_npz, tmp_path / "run")) == 0
    text = terminal.getvalue()
    assert "\x1b" not in text
    assert [last_line(line).split(":")[0] for line in text.split("\n") if "4/4 steps" in line] == [
        "epoch 1/2",
        "epoch 2/2",
    ]


def test_train_measures_an_epoch_from_its_start(tmp_path, monkeypatch, capsys):
    """Each epoch's bar was made at its first step, so it measured that step over microseconds: an epoch of
    one step (a small --train-samples) read ``1/1 steps (100%), 50632.92 steps/s``."""
    import numpy as np

    (tmp_path / "slowmodels.py").write_text(
        "import time\n\nimport torch.nn as nn\n\n\nclass Slow(nn.Linear):\n"
        "    def forward(self, x):\n        time.sleep(0.2)  # a step takes at least this long\n"
        "        return super().forward(x)\n\n\ndef slow():\n    return Slow(6, 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    y = np.arange(8) % 3
    np.savez(tmp_path / "flat.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    argv = ["train", "--model", "slowmodels:slow", "--data", "tensors", "--data-root", str(tmp_path / "flat.npz")]
    assert main([*argv, "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "run")]) == 0
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch 1/1: ")]
    rate = float(
        re.fullmatch(r"epoch 1/1: 1/1 steps \(100%\), ([0-9.]+) steps/s, left 00:00, loss \S+  acc \S+", line)[1]
    )
    assert 0 < rate <= 1 / 0.2


@pytest.mark.parametrize("interval", [0, 3600])
def test_a_finished_bar_always_ends_with_its_last_line(interval):
    out = io.StringIO()
    bar = ProgressBar(3, stream=out, interval=interval)
    for done in (1, 2, 3):
        bar.update(done, 1.0, 3.0 - done)
    assert out.getvalue().splitlines()[-1] == "3/3 pts (100%), 1.00 pts/s, left 00:00"


def test_a_bar_kept_open_at_its_total_shows_the_work_after_the_last_point():
    out = io.StringIO()
    bar = ProgressBar(3, stream=out, interval=3600, close_at_total=False)
    bar.update(3, 1.0, 0.0, "3 new")
    bar.update(3, 1.0, 0.0, "top-k Lanczos step 1/100 at the centre")
    bar.update(3, 1.0, 0.0, "density Lanczos step 40/40 at the centre")
    bar.close()
    assert out.getvalue().splitlines() == [
        "3/3 pts (100%), 1.00 pts/s, left 00:00, 3 new",
        "3/3 pts (100%), 1.00 pts/s, left 00:00, density Lanczos step 40/40 at the centre",
    ]


def test_compute_shows_the_centres_curvature_summary_after_the_last_point(tensors_npz, tmp_path, capsys):
    """The summary (top-k, trace, density: up to ~160 Hessian-vector products) ran after a closed bar, unseen."""
    argv = ["compute", "--model", "tinycnn", "--data", "tensors", "--data-root", str(tensors_npz), "--x", "-1:1:3"]
    assert main([*argv, "--hessian", "--hessian-steps", "4", "--out", str(tmp_path / "s.h5")]) == 0
    lines = capsys.readouterr().err.splitlines()
    done = next(i for i, line in enumerate(lines) if line.startswith("3/3 pts (100%)"))
    assert lines[done + 1].startswith("3/3 pts (100%)") and lines[done + 1].endswith(" at the centre")


@pytest.mark.parametrize(
    "share, text",
    [(0.935, "93.5%"), (0.000123, "0.01%"), (4e-7, "0.00004%"), (0.99996, "99.996%"), (0.0, "0.0%"), (1.0, "100.0%")],
)
def test_a_share_above_0_never_reads_0_percent(share, text):
    assert percent(share) == text


@pytest.mark.parametrize(
    "seconds, text", [(0.004, "<0.01s"), (0.0123, "0.012s"), (0.42, "0.42s"), (3.14159, "3.1s"), (754.4, "754s")]
)
def test_a_duration_has_the_digits_a_short_one_needs(seconds, text):
    """An epoch of a fraction of a second was logged as ``(0s)``."""
    assert duration(seconds) == text
