"""Does Winograd pay for the fp32 fast mode on a CPU? Per-layer and whole-model figures (#11).

The fp32 fast mode (BatchNorm folded, channels-last, optionally ``torch.compile``) runs oneDNN's direct
convolution, which here is already at the one-thread sgemm peak: the 2x the issue asks for needs fewer
FLOPs. Winograd's minimal filtering (Lavin & Gray 2015) does 3x3 stride-1 convolutions in fewer
multiplications: F(2x2,3x3) 2.25x, F(4x4,3x3) 4x fewer in its elementwise stage, at the cost of an
input and an output transform per tile. This script implements it in PyTorch for the folded
convolutions (weights transformed once per grid point, as ``FastForward.refresh`` refolds BN; input
transform as unrolled sums of strided views, the elementwise stage as one ``bmm`` over the 16/36 tile
positions, the output transform fused with the bias) and measures, one thread, per CPU second:

- per layer, at the three CIFAR ResNet stage shapes (32x32x16, 16x16x32, 8x8x64 channels; batch 128):
  oneDNN's channels-last convolution + ReLU against Winograd + ReLU, eager and compiled (inductor fuses
  the transforms and the ReLU), whole batch or in chunks of images (so the transformed tiles stay in cache);
- per model, interleaved rounds against exact in the same process: the fast mode without and with
  Winograd (every eligible convolution, or only those with at least ``--min-channels`` inputs), eager and
  compiled, with the deviation from exact of the mean loss (random labels) and of the logits.

    python bench/bench_winograd.py                        # per layer, then resnet20 and resnet56 (~35 min here)
    python bench/bench_winograd.py --skip-models          # per layer only (about 5 min)
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python bench/bench_winograd.py
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_record import PAPER_CHECKPOINT, cpu_flags, model_for  # noqa: E402

from workers.evaluate import keep_freed_memory  # noqa: E402
from workers.fastmode import FastForward  # noqa: E402

# Lavin & Gray 2015: output tile m x m from an (m+2) x (m+2) input tile; Y = A^T [(G g G^T) * (B^T d B)] A
WINOGRAD = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: (
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}
STAGES = [(32, 16), (16, 32), (8, 64)]  # CIFAR ResNets: (height = width, channels); equal FLOPs per stage


def combine(terms: list[torch.Tensor], coefficients: list[float]) -> torch.Tensor:
    """``sum_k coefficients[k] * terms[k]``, unrolled, zeros skipped (the transforms are sparse)."""
    out = None
    for c, t in zip(coefficients, terms):
        if c == 0:
            continue
        v = t if c == 1 else -t if c == -1 else c * t
        out = v if out is None else out + v
    return out


def winograd_weights(weight: torch.Tensor, m: int) -> torch.Tensor:
    """U = G g G^T of every (out, in) filter, as ``((m+2)^2, in, out)`` for the batched GEMM; in float64."""
    g = torch.tensor(WINOGRAD[m][1], dtype=torch.float64)
    u = torch.einsum("ik,ockl,jl->ijco", g, weight.double(), g)
    return u.reshape(-1, weight.shape[1], weight.shape[0]).to(weight.dtype)


def winograd_conv(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, m: int) -> torch.Tensor:
    """A 3x3, stride-1, padding-1 convolution of ``x`` (N, C, H, W; channels-last is fastest) by F(m x m, 3x3)."""
    bt, _, at = WINOGRAD[m]
    a = m + 2
    n, _, h, w = x.shape
    th, tw = -(-h // m), -(-w // m)  # tiles per column / row; the last ones overhang and are cropped
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, tw * m + 1 - w, 1, th * m + 1 - h))  # (N, H+, W+, C)
    rows = [xp[:, k : k + m * (th - 1) + 1 : m] for k in range(a)]  # (N, th, W+, C) each
    r = [combine(rows, bt[i]) for i in range(a)]
    v = []
    for i in range(a):
        cols = [r[i][:, :, k : k + m * (tw - 1) + 1 : m] for k in range(a)]
        v += [combine(cols, bt[j]) for j in range(a)]
    v = torch.stack(v).reshape(a * a, n * th * tw, -1)  # B^T d B: (positions, tiles, C)
    mm = torch.bmm(v, u).view(a, a, n, th, tw, -1)  # (positions, tiles, out)
    s = [combine([mm[i] for i in range(a)], at[p]) for p in range(m)]
    y = torch.stack(
        [torch.stack([combine([s[p][j] for j in range(a)], at[q]) for q in range(m)], 3) for p in range(m)], 2
    )
    y = y.reshape(n, th * m, tw * m, -1)[:, :h, :w]
    if bias is not None:
        y = y + bias
    return y.permute(0, 3, 1, 2)  # NCHW view of channels-last memory


class WinogradConv2d(nn.Module):
    """Stands in for a folded 3x3 stride-1 convolution, its weights transformed once (one grid point: a
    surface would retransform them wherever ``FastForward.refresh`` refolds BatchNorm)."""

    def __init__(self, conv: nn.Conv2d, m: int):
        super().__init__()
        self.conv, self.m = conv, m
        self.register_buffer("u", winograd_weights(conv.weight.detach(), m))

    @staticmethod
    def eligible(conv: nn.Module) -> bool:
        return (
            isinstance(conv, nn.Conv2d)
            and conv.kernel_size == (3, 3)
            and conv.stride == (1, 1)
            and conv.padding == (1, 1)
            and conv.dilation == (1, 1)
            and conv.groups == 1
            and conv.padding_mode == "zeros"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_conv(x, self.u, self.conv.bias, self.m)


def cpu_ms(f: Callable[[], object], reps: int) -> float:
    """Mean CPU milliseconds of ``f`` after two warm-up calls."""
    f()
    f()
    c = time.process_time()
    for _ in range(reps):
        f()
    return (time.process_time() - c) / reps * 1e3


# ---- per layer ------------------------------------------------------------------------------------


def layer_figures(x: torch.Tensor, conv: nn.Conv2d, args) -> list[str]:
    """oneDNN's conv + ReLU against Winograd's, eager and compiled, on ``x`` whole or in chunks of images;
    interleaved rounds, the median of the per-round ratios."""
    want = F.relu(conv(x))
    runs: dict[str, Callable[[], torch.Tensor]] = {"oneDNN": lambda: F.relu(conv(x))}
    for m in (2, 4):
        wino = WinogradConv2d(conv, m)
        for compiled, chunk in [(False, None)] + [(True, n) for n in (None, *args.chunks)]:

            def layer(t: torch.Tensor, wino: WinogradConv2d = wino) -> torch.Tensor:
                return F.relu(wino(t))

            f = torch.compile(layer, dynamic=False) if compiled else layer
            # chunks: the layer on a few images at a time, so that the transformed tiles stay in cache
            parts = x.split(chunk or len(x))

            def run(f: Callable = f, parts: tuple = parts) -> torch.Tensor:
                return torch.cat([f(p) for p in parts])

            runs[f"F({m},3){' compiled' if compiled else ''}{f' chunk {chunk}' if chunk else ''}"] = run
        # the elementwise stage alone, the part whose FLOPs Winograd cuts: (positions, tiles, C) x (positions, C, C)
        tiles = len(x) * -(-x.shape[2] // m) * -(-x.shape[3] // m)
        v = torch.randn(wino.u.shape[0], tiles, x.shape[1])

        def gemm(v: torch.Tensor = v, u: torch.Tensor = wino.u) -> torch.Tensor:
            return torch.bmm(v, u)

        runs[f"F({m},3) GEMM alone"] = gemm
    errors = {k: ((f() - want).abs().max() / want.abs().max()).item() for k, f in runs.items() if "GEMM" not in k}
    times = {k: [] for k in runs}
    for _ in range(args.rounds):
        for k, f in runs.items():
            times[k].append(cpu_ms(f, args.reps))
    out = []
    for k, t in times.items():
        ratio = statistics.median(b / w for b, w in zip(times["oneDNN"], t))
        err = f", err {errors[k]:.0e}" if k in errors else ""
        out.append(f"{k} {statistics.median(t):.2f}" + ("" if k == "oneDNN" else f" ({ratio:.2f}x{err})"))
    return out


def per_layer(args) -> None:
    print(
        f"\nper layer: CPU ms per call (batch {args.batch_size}; median of {args.rounds} interleaved rounds of {args.reps} "
        "calls), conv + bias + ReLU; speed-up over oneDNN channels-last (median per round) and max |error| relative "
        "to max |output| in brackets"
    )
    torch.manual_seed(0)
    for hw, c in STAGES:
        x = torch.randn(args.batch_size, c, hw, hw).contiguous(memory_format=torch.channels_last)
        conv = nn.Conv2d(c, c, 3, padding=1).to(memory_format=torch.channels_last).eval()
        with torch.inference_mode():
            print(f"  {hw}x{hw}x{c}: " + "; ".join(layer_figures(x, conv, args)), flush=True)


# ---- whole models ---------------------------------------------------------------------------------


def fast_module(base: nn.Module, m: int | None, min_channels: int) -> nn.Module:
    """The fp32 fast mode's folded module, its eligible convolutions replaced by Winograd ones."""
    fast = FastForward(copy.deepcopy(base), torch.device("cpu"))
    if m is None:
        return fast.module
    for name, conv in list(fast.module.named_modules()):
        if WinogradConv2d.eligible(conv) and conv.in_channels >= min_channels:
            parent, _, leaf = name.rpartition(".")
            setattr(fast.module.get_submodule(parent) if parent else fast.module, leaf, WinogradConv2d(conv, m))
    return fast.module


def whole_models(args) -> None:
    print(
        f"\nwhole model: images per CPU second ({args.samples} random samples, batch {args.batch_size}), speed-up "
        "over exact per round, setup (incl. compile), deviation from exact: |mean loss - exact| / exact (random "
        "labels), max |logit - exact| / max |exact logit|"
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.samples, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.samples,), generator=gen)
    xcl = x.contiguous(memory_format=torch.channels_last)
    batches = range(0, args.samples, args.batch_size)
    variants = {"fast fp32": dict(m=None), **{f"F({m},3)": dict(m=m) for m in args.tiles}}
    for name in args.models:
        base = model_for(name, args.checkpoint if name == "resnet56" else None)
        modes: dict[str, tuple[Callable, torch.Tensor, float]] = {"exact": (base, x, 0.0)}
        for vname, kw in variants.items():
            for compiled in (False, True):
                for min_c in [0] if kw["m"] is None else args.min_channels:
                    t = time.perf_counter()
                    module = fast_module(base, kw["m"], min_c)
                    f = torch.compile(module, dynamic=False) if compiled else module
                    with torch.inference_mode():
                        f(xcl[: args.batch_size])
                    label = f"{vname}{f' C>={min_c}' if min_c else ''}{' compiled' if compiled else ''}"
                    modes[label] = (f, xcl, time.perf_counter() - t)

        def run(f, inputs) -> torch.Tensor:
            with torch.inference_mode():
                return torch.cat([f(inputs[i : i + args.batch_size]) for i in batches])

        exact = run(base, x)
        exact_loss = F.cross_entropy(exact, y).item()
        dev = {}
        for k, (f, inp, _) in modes.items():
            logits = run(f, inp)
            dev[k] = (
                abs(F.cross_entropy(logits, y).item() - exact_loss) / abs(exact_loss),
                ((logits - exact).abs().max() / exact.abs().max()).item(),
            )
        rates = {k: [] for k in modes}
        for _ in range(args.rounds):
            for k, (f, inp, _) in modes.items():
                c = time.process_time()
                run(f, inp)
                rates[k].append(args.samples / (time.process_time() - c))
        print(f"{name} (load average {os.getloadavg()[0]:.2f}):")
        for k in modes:
            ratios = [r / e for r, e in zip(rates[k], rates["exact"])]
            print(
                f"  {k:<28}{statistics.median(rates[k]):>6.0f}  {statistics.median(ratios):.2f}x "
                f"({' '.join(f'{v:.2f}' for v in ratios)}){modes[k][2]:>7.1f} s  {dev[k][0]:.1e}  {dev[k][1]:.1e}",
                flush=True,
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--reps", type=int, default=10, help="per layer: calls per measurement")
    p.add_argument("--chunks", type=int, nargs="*", default=[16], help="per layer: images per chunk")
    p.add_argument("--skip-models", action="store_true")
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56"])
    p.add_argument("--checkpoint", type=Path, default=PAPER_CHECKPOINT, help="ResNet-56 weights (default: the paper's)")
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tiles", type=int, nargs="+", default=[2, 4], choices=[2, 4], help="whole model: m of F(m,3)")
    p.add_argument(
        "--min-channels", type=int, nargs="+", default=[0, 64], help="whole model: Winograd only from this many inputs"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch._dynamo.config.recompile_limit = 64  # one graph per layer shape and configuration
    keep_freed_memory()
    print(
        f"CPU: {cpu_flags()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}"
    )
    per_layer(args)
    if not args.skip_models:
        whole_models(args)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
