"""The benchmark of record: images per second of ResNet-56 surfaces, exact and fast, and what the
paper's own workload (51x51 grid, all 50,000 training images: 130 million forward passes) would take.

On a GPU (``--device cuda``, the default when torch sees one), for 1,000 and 10,000 samples and a
51x51 grid: ``compute_surface`` as a user runs it (file written as points finish), capped at
``--seconds`` per configuration and timed between its first and last progress report (so setup, the
fast mode's self-check and the first compile are left out; they are printed apart). Configurations:
exact one point per pass in batches of 128 (the engine before batching) and of 1,024, exact and fast
with K points per pass. The whole GPU part is sized to finish within 5 minutes on an H200.

On a CPU: per model, exact against the fast modes (fp32 folded, fp32 folded + torch.compile, bf16
where the CPU has bf16 units) and exact K=4 points per pass, interleaved over ``--rounds`` rounds,
as ratios to exact in the same round; the CPU's ISA flags printed beside the figures. To measure an
AVX2 CPU on a newer one: ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python bench/bench_record.py``.

    python bench/bench_record.py                     # GPU part if there is a GPU, else the CPU part
    python bench/bench_record.py --device cpu --models resnet20 --rounds 1
    python bench/bench_record.py --json $OUT/record.json
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workers import SurfaceSpec, compute_surface  # noqa: E402
from workers.checkpoints import load_model  # noqa: E402
from workers.directions import random_directions  # noqa: E402
from workers.evaluate import keep_freed_memory  # noqa: E402
from workers.fastmode import _cpu_has_bf16  # noqa: E402
from workers.pointeval import PointEvaluator, check_points  # noqa: E402

PAPER_CHECKPOINT = (
    Path(__file__).resolve().parents[2]
    / "shared/models/loss-landscape-paper/resnet56_sgd_lr0.1_bs128_wd0.0005_model_300.t7"
)
PAPER_IMAGES = 51 * 51 * 50_000  # the paper's workload: 130,050,000 forward passes


def cpu_flags() -> str:
    """torch's CPU capability and the vector / matrix extensions the kernel reports."""
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return (
        f"{platform.processor() or platform.machine()}, torch capability {torch.backends.cpu.get_cpu_capability()}"
        f"{f', ONEDNN_MAX_CPU_ISA={isa}' if isa else ''}; flags: {' '.join(f for f in wanted if f in flags) or 'none of'}"
    )


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's flags (the GPU part's smoke test runs it on a CPU)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_flags()


def random_samples(n: int, device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=gen)  # (N, 3, 32, 32): the rate does not depend on the pixels
    y = torch.randint(0, 10, (n,), generator=gen)
    return {"train": (x.to(device), y.to(device))}


def model_for(name: str, checkpoint: Path | None) -> torch.nn.Module:
    return load_model(name, checkpoint if checkpoint and checkpoint.exists() else None)


# ---- GPU: whole surfaces, capped in time ---------------------------------------------------------


def gpu_surface(model, samples: int, fast, points_per_pass, batch_size: int, args, tmp: Path) -> dict:
    """Images per second over a capped 51x51 surface, between its first and last progress reports."""
    data = random_samples(samples, args.device)
    spec = SurfaceSpec(model="resnet56", dataset="tensors", x="-1:1:51", y="-1:1:51", batch_size=batch_size, fast=fast)
    marks: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    surface = compute_surface(
        spec,
        tmp / f"s{time.monotonic_ns()}.h5",
        model=model,
        data=data,
        device=args.device,
        points_per_pass=points_per_pass,
        progress=lambda p: marks.append((time.perf_counter(), p.computed)),
        should_stop=lambda: bool(marks) and time.perf_counter() - marks[0][0] > args.seconds,
    )
    (t_first, n_first), (t_last, n_last) = marks[0], marks[-1]
    rate = (n_last - n_first) * samples / (t_last - t_first) if n_last > n_first else float("nan")
    out = {
        "samples": samples,
        "fast": fast,
        "points_per_pass": points_per_pass or "auto",
        "batch_size": batch_size,
        "points": n_last,
        "setup_s": t_first - t0,
        "images_per_s": rate,
        "paper_workload_min": PAPER_IMAGES / rate / 60,
    }
    check = surface.recipe.get("compute", {}).get("fast_check")
    if check:
        out["fast_check_max_rel_loss"] = check["max_rel"]["train_loss"]
    return out


def gpu_part(args, keep: Callable[[dict], None]) -> None:
    """Each configuration's row goes to ``keep`` as soon as it is measured."""
    model = model_for("resnet56", args.checkpoint)
    print(
        f"GPU: {device_name(args.device)}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
        f"ResNet-56 ({'paper checkpoint' if args.checkpoint and args.checkpoint.exists() else 'seeded init'}), "
        f"random inputs, 51x51 grid, {args.seconds:g} s per configuration"
    )
    print(
        f"{'samples':>8}{'mode':>7}{'K':>6}{'batch':>7}{'points':>8}{'setup s':>9}{'images/s':>11}{'paper 51x51x50k':>17}{'fast check dloss':>18}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for samples in args.samples:
            # the engine before #11 (one point, batches of 128), bigger batches alone, K points per pass
            for fast, k, batch in (
                (False, 1, 128),
                (False, 1, 1024),
                (False, None, args.batch_size),
                (True, None, args.batch_size),
            ):
                r = gpu_surface(model, samples, fast, k, batch, args, Path(tmp))
                check = f"{r['fast_check_max_rel_loss']:.2%}" if "fast_check_max_rel_loss" in r else ""
                print(
                    f"{samples:>8}{'fast' if fast else 'exact':>7}{str(r['points_per_pass']):>6}{batch:>7}{r['points']:>8}"
                    f"{r['setup_s']:>9.1f}{r['images_per_s']:>11.0f}{r['paper_workload_min']:>14.1f} min{check:>18}",
                    flush=True,
                )
                keep(r)


# ---- CPU: forward-pass modes, interleaved rounds -------------------------------------------------


def cpu_rate(evaluator: PointEvaluator, points: list, samples: int) -> tuple[float, float]:
    """(images per wall second, per CPU second) of evaluating ``points``."""
    w, c = time.perf_counter(), time.process_time()
    evaluator.evaluate(points)
    return len(points) * samples / (time.perf_counter() - w), len(points) * samples / (time.process_time() - c)


def cpu_part(args, keep: Callable[[dict], None]) -> None:
    keep_freed_memory()
    print(
        f"CPU: {cpu_flags()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {args.cpu_samples} random "
        f"samples, batch {args.batch_size}, {args.cpu_points} points per measurement; load average "
        f"{os.getloadavg()[0]:.2f} (the machine may be shared: compare ratios within a round, not absolute rates)"
    )
    modes = {
        "exact": dict(),
        "fast fp32": dict(fast="fp32"),
        "fast fp32 compiled": dict(fast="fp32", compile=True),
        "exact K=4": dict(points_per_pass=4),
    }
    if _cpu_has_bf16():
        modes["fast bf16"] = dict(fast="bf16")
    if args.modes:
        modes = {m: kw for m, kw in modes.items() if m == "exact" or m in args.modes}
    for name in args.models:
        base = model_for(name, args.checkpoint if name == "resnet56" else None)
        dirs = random_directions(base, seed=0, count=2)
        data = random_samples(args.cpu_samples, torch.device("cpu"))
        grid = [(-1 + 2 * i / 50, 1 - 2 * i / 50) for i in range(51)]
        evaluators, setup = {}, {}
        for mode, kw in modes.items():
            t = time.perf_counter()
            evaluators[mode] = PointEvaluator(copy.deepcopy(base), dirs, data, batch_size=args.batch_size, **kw)
            evaluators[mode].evaluate(grid[:1])  # warm-up; compiles the compiled mode
            setup[mode] = time.perf_counter() - t
        check = {
            m: evaluators[m].fast_check(check_points([-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0])) for m in modes if "fast" in m
        }
        ratios = {m: [] for m in modes}
        rates = {m: [] for m in modes}
        for r in range(args.rounds):
            points = grid[1 + r * args.cpu_points : 1 + (r + 1) * args.cpu_points]
            for mode, ev in evaluators.items():
                rates[mode].append(cpu_rate(ev, points, args.cpu_samples))
            for mode in modes:
                ratios[mode].append(rates[mode][-1][1] / rates["exact"][-1][1])
        print(
            f"\n{name}: images per wall s | CPU s (median), speed-up over exact per CPU second (each round), "
            f"setup incl. compile, fast check (max relative deviation of the loss at centre and corners)"
        )
        for mode in modes:
            wall, cpu = statistics.median(w for w, _ in rates[mode]), statistics.median(c for _, c in rates[mode])
            dev = f"{check[mode]['max_rel']['train_loss']:.1e}" if mode in check else ""
            print(
                f"  {mode:<20}{wall:>7.0f} |{cpu:>5.0f}  {statistics.median(ratios[mode]):>5.2f}x "
                f"({' '.join(f'{v:.2f}' for v in ratios[mode])}){setup[mode]:>7.1f} s{dev:>10}",
                flush=True,
            )
            keep(
                {
                    "model": name,
                    "mode": mode,
                    "images_per_s_wall": wall,
                    "images_per_s_cpu": cpu,
                    "speedup_cpu": statistics.median(ratios[mode]),
                    "setup_s": setup[mode],
                    "fast_check_max_rel_loss": check[mode]["max_rel"]["train_loss"] if mode in check else None,
                }
            )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=PAPER_CHECKPOINT,
        help="ResNet-56 weights (default: the paper's, when present)",
    )
    p.add_argument("--samples", type=int, nargs="+", default=[1000, 10000], help="GPU: samples per surface")
    p.add_argument("--seconds", type=float, default=15.0, help="GPU: measured seconds per configuration")
    p.add_argument("--batch-size", type=int, default=128, help="samples per batch (GPU: of each of the K points)")
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56"], help="CPU: models")
    p.add_argument("--cpu-samples", type=int, default=512)
    p.add_argument("--cpu-points", type=int, default=4, help="CPU: points per mode and round")
    p.add_argument("--rounds", type=int, default=3, help="CPU: interleaved rounds")
    p.add_argument("--modes", nargs="+", help="CPU: only these besides exact, e.g. 'fast fp32' 'fast bf16'")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = torch.device(args.device)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    part = "gpu" if args.device.type == "cuda" else "cpu"
    record = {"date": started, "torch": torch.__version__, "device": device_name(args.device), part: []}

    def keep(row: dict) -> None:  # written after every row: a run stopped at its time limit keeps its figures
        record[part].append(row)
        if args.json:
            args.json.write_text(json.dumps(record, indent=1))

    if part == "gpu":
        gpu_part(args, keep)
    else:
        print(
            "no GPU here (torch sees no CUDA device): the GPU part of the benchmark of record is skipped; CPU part only\n"
        )
        cpu_part(args, keep)


if __name__ == "__main__":
    main()
