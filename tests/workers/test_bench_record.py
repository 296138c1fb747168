"""The benchmark of record's GPU part, run on the CPU at a toy size: the device time it is meant for is
rare (minutes per task), so the script must not first fail there."""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_record.py"


def test_gpu_part_runs_every_configuration(capsys):
    spec = importlib.util.spec_from_file_location("bench_record", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(device=torch.device("cpu"), checkpoint=None, samples=[3], seconds=0.2, batch_size=2)
    rows: list[dict] = []
    bench.gpu_part(args, rows.append)
    assert [(r["fast"], r["points_per_pass"], r["batch_size"]) for r in rows] == [
        (False, 1, 128),
        (False, 1, 1024),
        (False, "auto", 2),
        (True, "auto", 2),
    ]
    for r in rows:
        assert r["points"] >= 2 and math.isfinite(r["images_per_s"]) and r["images_per_s"] > 0
        assert math.isclose(r["paper_workload_min"], bench.PAPER_IMAGES / r["images_per_s"] / 60)
    assert "fast_check_max_rel_loss" in rows[3] and "fast_check_max_rel_loss" not in rows[0]
    printed = capsys.readouterr().out
    assert printed.count("\n") == 2 + len(rows) and "seeded init" in printed
