"""Running ``lossatlas`` in-process in the engine's command-line tests: the arguments of a small compute,
and the one line of a refused command."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.cli import main


def compute_args(data: Path, out: str | Path, *extra: str, model: str = "tinycnn") -> list[str]:
    """``lossatlas compute`` of ``model`` on a tensors file, a 3-point line into ``out``; ``extra`` after."""
    return [
        "compute",
        "--model",
        model,
        "--data",
        "tensors",
        "--data-root",
        str(data),
        "--threads",
        "1",
        "--batch-size",
        "256",
        "--x",
        "-1:1:3",
        "--out",
        str(out),
        *extra,
    ]


def refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The last line ``lossatlas argv`` prints as it refuses: exit status 2, no traceback."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]
