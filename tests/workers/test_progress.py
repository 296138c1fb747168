"""Progress bars (tqdm): the engine's rate and time left when given (resumed surfaces), tqdm's own
measure otherwise; the ``train`` bar shows a real rate (#16: it showed "0.00 steps/s left --:--")."""

from __future__ import annotations

import io
import re
import time

from workers.cli import main
from workers.progress import ProgressBar


def last_line(text: str) -> str:
    return [line for line in re.split(r"[\r\n]", text) if line.strip()][-1]


def test_given_rate_and_eta_are_shown_for_a_resumed_run():
    out = io.StringIO()
    bar = ProgressBar(12, stream=out, interval=0)
    bar.update(10, 0.5, 4.0, "3 new")  # 7 points were already in the file
    bar.update(12, 0.5, 0.0, "5 new")
    assert last_line(out.getvalue()).endswith("| 12/12 pts, 0.50 pts/s, left 00:00, 5 new")


def test_measured_rate_when_none_is_given():
    out = io.StringIO()
    bar = ProgressBar(4, unit="steps", stream=out, interval=0, desc="epoch 1/1")
    for step in range(1, 5):
        time.sleep(0.02)
        bar.update(step, extra="loss 1.000")
    line = last_line(out.getvalue())
    rate = float(re.search(r"4/4 steps, ([0-9.]+)steps/s, left 00:00, loss 1.000$", line).group(1))
    assert line.startswith("epoch 1/1: 100%") and 0 < rate < 4 / 0.08


def test_train_bar_shows_a_measured_rate(learnable_npz, tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--model",
                "tinycnn",
                "--data",
                "tensors",
                "--data-root",
                str(learnable_npz),
                "--epochs",
                "1",
                "--batch-size",
                "64",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    bar = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if "4/4 steps" in line][-1]
    rate = float(re.search(r"4/4 steps, ([0-9.]+)steps/s, left 00:00, loss ", bar).group(1))
    assert rate > 0 and bar.startswith("epoch 1/1: 100%")
