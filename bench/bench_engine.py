"""Engine throughput against the raw forward pass: how close does a whole surface get to the limit?

For each model, on the same preloaded samples (1,000 by default) and batch size: the raw forward
throughput (model in eval mode, no_grad, a plain loop over the batches: the limit for exact fp32) and
the engine's throughput over a whole small surface (``compute_surface`` with the data in memory,
written to a file as it goes: points x samples / time). Their ratio is the engine's efficiency (goal
>= 0.95). Both run in this process under the same allocator setting (the engine's
``keep_freed_memory``, applied before the first measurement). Then the fast mode: its speed-up over
exact and its largest deviation from the exact surface. Last, the allocator lever itself: the raw
forward pass in child processes with glibc's defaults and with freed memory kept.

Every rate is given per wall second and per CPU second of this process (user + system time). With
``--threads 1`` the CPU figure barely moves when other processes share the cores, so it measures the
work done rather than the queueing; the wall figure is what a user waits for on an idle machine.

    python bench/bench_engine.py                                # resnet20 and resnet56, 5x5 points
    python bench/bench_engine.py --threads 1 --grid 3 --models resnet20
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workers import SurfaceSpec, compute_surface  # noqa: E402
from workers.checkpoints import load_model  # noqa: E402
from workers.evaluate import keep_freed_memory  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds of this process; CPU = user + system time of all its threads."""
    return time.perf_counter(), time.process_time()


def raw_throughput(model: torch.nn.Module, x: torch.Tensor, batch_size: int, passes: int) -> tuple[float, float]:
    """Samples per wall second and per CPU second of the plain loop over ``passes`` passes: a mean,
    like the engine's figure (a best-of would favour the baseline on a busy machine)."""
    with torch.no_grad():
        sync(x.device)
        w, c = clocks()
        for _ in range(passes):
            for i in range(0, len(x), batch_size):
                model(x[i : i + batch_size])
        sync(x.device)
        w2, c2 = clocks()
    return passes * len(x) / (w2 - w), passes * len(x) / (c2 - c)


def surface_run(
    name: str, model: torch.nn.Module, data: dict, args: argparse.Namespace, fast: bool, tmp: Path
) -> tuple[float, float, dict]:
    """(samples per wall second, per CPU second, metrics) of one whole surface, written to a fresh file."""
    axis = f"-1:1:{args.grid}"
    spec = SurfaceSpec(model=name, dataset="tensors", x=axis, y=axis, batch_size=args.batch_size, fast=fast)
    out = tmp / f"{name}-{'fast' if fast else 'exact'}-{time.monotonic_ns()}.h5"
    w, c = clocks()
    surface = compute_surface(spec, out, model=model, data=data, device=args.device)
    w2, c2 = clocks()
    n = args.grid**2 * len(data["train"][1])
    return n / (w2 - w), n / (c2 - c), surface.metrics


def samples(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.samples, 3, 32, 32, generator=gen)  # (N, 3, 32, 32), preloaded
    y = torch.randint(0, 10, (args.samples,), generator=gen)  # (N,)
    return x.to(args.device), y.to(args.device)


def measure(name: str, args: argparse.Namespace) -> dict:
    """Raw vs engine (medians over ``args.repeats`` interleaved rounds), then the fast mode."""
    x, y = samples(args)
    data = {"train": (x, y)}
    model = load_model(name, args.checkpoint).to(args.device)
    raw_throughput(model, x[: 2 * args.batch_size], args.batch_size, 1)  # warm-up
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # raw before and after each surface: both see the same machine
            before = raw_throughput(model, x, args.batch_size, args.passes)
            engine_wall, engine_cpu, exact = surface_run(name, model, data, args, False, Path(tmp))
            after = raw_throughput(model, x, args.batch_size, args.passes)
            raw_wall, raw_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            rounds.append((raw_wall, raw_cpu, engine_wall, engine_cpu, engine_wall / raw_wall, engine_cpu / raw_cpu))
        keys = ("raw_wall", "raw_cpu", "engine_wall", "engine_cpu", "ratio_wall", "ratio_cpu")
        out = {k: statistics.median(col) for k, col in zip(keys, zip(*rounds))}
        out.update(model=name, ratios_cpu=[r[5] for r in rounds])
        if args.fast:
            fast_wall, fast_cpu, approx = surface_run(name, model, data, args, True, Path(tmp))
            out.update(
                speedup_wall=fast_wall / out["engine_wall"],
                speedup_cpu=fast_cpu / out["engine_cpu"],
                fast_dloss=float(np.abs(approx["train_loss"] - exact["train_loss"]).max()),
                fast_dacc=float(np.abs(approx["train_acc"] - exact["train_acc"]).max()),
            )
    return out


def raw_allocator_child(name: str, args: argparse.Namespace) -> dict:
    """The raw forward pass in this (child) process, with or without kept memory; page faults counted."""
    if args.child == "keep":
        keep_freed_memory()
    x, _ = samples(args)
    model = load_model(name, args.checkpoint)
    raw_throughput(model, x[: args.batch_size], args.batch_size, 1)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    wall, cpu = raw_throughput(model, x, args.batch_size, args.passes)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = args.passes * len(x)
    return {
        "model": name,
        "allocator": args.child,
        "wall": wall,
        "cpu": cpu,
        "sys_share": (r1.ru_stime - r0.ru_stime) / ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)),
        "faults": (r1.ru_minflt - r0.ru_minflt) / n,
    }


def allocator_comparison(args: argparse.Namespace) -> None:
    print("\nallocator lever, raw forward pass (child processes, alternating; samples/s wall | CPU)")
    print(f"{'model':<12}{'allocator':<10}{'wall':>7}{'CPU':>7}{'system time':>13}{'faults/sample':>15}")
    for name in args.models:
        for mode in ("default", "keep") * args.repeats:
            argv = [*sys.argv[1:], "--models", name, "--child", mode]  # the last --models wins
            proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"bench child failed:\n{proc.stderr}")
            r = json.loads(proc.stdout.splitlines()[-1])
            print(f"{name:<12}{mode:<10}{r['wall']:>7.0f}{r['cpu']:>7.0f}{r['sys_share']:>12.0%}{r['faults']:>15.0f}")


def report(r: dict) -> None:
    line = (
        f"{r['model']:<12}{r['raw_wall']:>6.0f} |{r['raw_cpu']:>5.0f}{r['engine_wall']:>8.0f} |{r['engine_cpu']:>5.0f}"
        f"{r['ratio_wall']:>8.3f} |{r['ratio_cpu']:>6.3f}  " + " ".join(f"{v:.3f}" for v in r["ratios_cpu"]).ljust(20)
    )
    if "speedup_wall" in r:
        line += f"{r['speedup_wall']:>6.2f}x |{r['speedup_cpu']:>5.2f}x{r['fast_dloss']:>10.1e}{r['fast_dacc']:>9.2f}"
    print(line, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56"])
    p.add_argument("--checkpoint", help="weights for the model (default: its seeded initialisation)")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--grid", type=int, default=5, help="points per axis of the surface")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2, help="rounds per model (raw, surface, raw)")
    p.add_argument("--passes", type=int, default=3, help="raw passes per measurement")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (model and data kept there)")
    p.add_argument("--no-fast", dest="fast", action="store_false", help="skip the fast mode")
    p.add_argument("--no-allocator", dest="allocator", action="store_false", help="skip the allocator comparison")
    p.add_argument("--child", choices=["default", "keep"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(raw_allocator_child(args.models[0], args)))
        return
    if args.device == "cpu":
        keep_freed_memory()  # as the engine's Evaluator does: the raw baseline gets the same allocator
    print(
        f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads, {args.samples} samples, "
        f"batch {args.batch_size}, {args.grid}x{args.grid} points; load average {os.getloadavg()[0]:.2f}"
    )
    print("\nsamples/s per wall second | per CPU second; fast mode: speed-up over exact, largest deviation")
    print(
        f"{'model':<12}{'raw':>13}{'engine':>14}{'ratio':>15}  {'ratios (CPU)':<20}{'fast speed-up':>15}{'max dloss':>10}{'max dacc':>9}"
    )
    for name in args.models:
        report(measure(name, args))
    if args.allocator and args.device == "cpu":
        allocator_comparison(args)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (well above 0: others shared the cores; repeat)")


if __name__ == "__main__":
    main()
