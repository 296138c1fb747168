"""Cost of the Hessian eigenvalue maps: one Hessian-vector product against one forward pass, and the
Lanczos steps a point takes.

For each model, on the same samples and batch size:

- **forward**: one pass over the samples in eval mode under ``no_grad`` (what a loss point costs), and
  a gradient (forward + backward) for scale;
- **hvp**: one product by double backward (``workers.hessian.HessianOperator``), and by forward-over-
  reverse ``torch.func.jvp(grad)`` for comparison; ratio = hvp / forward, the number that matters;
- **lanczos**: ``CurvatureEvaluator.evaluate`` (our Lanczos, full reorthogonalization, both ends from one
  run) at the centre and at grid points along filter-normalized random directions: steps, max, min;
- **eigsh**: SciPy's ``eigsh(which='BE', k=2)`` over a ``LinearOperator`` (vectors through the host)
  to the same tolerance, and the reference recipe (``eigsh`` twice, the second on ``H - 0.51*max*I``):
  products and seconds, and the error of each against a tight Lanczos run (tol 1e-5).

Times are medians per wall second and per CPU second (user + system) of this process; with
``--threads 1`` the CPU figure barely moves when others share the machine.

    python bench/bench_hessian.py                          # resnet20 and resnet56, 64 samples
    python bench/bench_hessian.py --models resnet20 --samples 32 --points 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from workers.checkpoints import load_model  # noqa: E402
from workers.data import load_split  # noqa: E402
from workers.directions import random_directions  # noqa: E402
from workers.evaluate import FlatWeights, keep_freed_memory  # noqa: E402
from workers.hessian import (  # noqa: E402
    CurvatureEvaluator,
    HessianOperator,
    extremes_converged,
    hessian_params,
    lanczos,
    reference_extremes,
    start_vector,
)
from workers.spec import HessianSpec  # noqa: E402

CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.xz"
CHECKPOINTS = {
    "resnet56": ROOT.parent / "shared/models/loss-landscape-paper/resnet56_sgd_lr0.1_bs128_wd0.0005_model_300.t7"
}


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn()``."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def func_hvp(model, names, x, y):
    """H v by forward-over-reverse (torch.func), over one batch of all samples' mean loss."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    chosen = {n: params[n] for n in names}

    def loss(p):
        out = torch.func.functional_call(model, {**params, **buffers, **p}, (x,))
        return torch.nn.functional.cross_entropy(out, y)

    def hvp(v):
        return torch.func.jvp(torch.func.grad(loss), (chosen,), (v,))[1]

    return chosen, hvp


def eigsh_both_ends(op: HessianOperator, tol: float) -> tuple[float, float]:
    from scipy.sparse.linalg import LinearOperator, eigsh

    def mv(v):
        return op.matvec(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64))).numpy()

    vals = eigsh(
        LinearOperator((op.n, op.n), matvec=mv, dtype=np.float64),
        k=2,
        which="BE",
        tol=tol,
        v0=start_vector(op.n, 0).numpy(),
    )[0]
    return float(vals.max()), float(vals.min())


def bench_model(name: str, args) -> None:
    checkpoint = args.checkpoint_dir / f"{name}.pt" if args.checkpoint_dir else None
    checkpoint = CHECKPOINTS.get(name) if name in CHECKPOINTS and args.paper else checkpoint
    model = load_model(name, str(checkpoint) if checkpoint and checkpoint.exists() else None).eval()
    if CIFAR.exists():
        x, y, _ = load_split("cifar10-jpeg", "train", CIFAR, args.samples, 0)
    else:
        gen = torch.Generator().manual_seed(0)
        x, y = torch.randn(args.samples, 3, 32, 32, generator=gen), torch.randint(0, 10, (args.samples,), generator=gen)
    source = checkpoint.name if checkpoint and checkpoint.exists() else "seeded init"
    print(f"\n## {name} ({source}; {args.samples} CIFAR-10 train samples, batch {args.batch_size})", flush=True)

    directions = random_directions(model, 0, 2)
    flat = FlatWeights(model, directions)
    named = hessian_params(model, "moved", directions)
    op = HessianOperator(model, [p for _, p in named], x, y, "ce", args.batch_size)
    print(f"parameters in the Hessian: {op.n:,} of {sum(p.numel() for p in model.parameters()):,}")

    def forward():
        with torch.no_grad():
            for i in range(0, len(y), args.batch_size):
                model(x[i : i + args.batch_size])

    def gradient():
        model.zero_grad(set_to_none=True)
        for i in range(0, len(y), args.batch_size):
            torch.nn.functional.cross_entropy(model(x[i : i + args.batch_size]), y[i : i + args.batch_size]).backward()

    v = start_vector(op.n, 1)
    fw, fc = timed(forward, args.repeat)
    gw, gc = timed(gradient, args.repeat)
    hw, hc = timed(lambda: op.matvec(v), args.repeat)
    chosen, fhvp = func_hvp(model, [n for n, _ in named], x, y)
    vs = {n: t.view_as(chosen[n]).float() for n, t in zip(chosen, torch.split(v, [p.numel() for p in chosen.values()]))}
    jw, jc = timed(lambda: fhvp(vs), args.repeat)
    print(f"forward pass: {fw:.3f} s wall, {fc:.3f} s CPU")
    print(f"gradient (forward + backward): {gw:.3f} s wall, {gc:.3f} s CPU -> {gw / fw:.2f}x / {gc / fc:.2f}x")
    print(f"HVP double backward: {hw:.3f} s wall, {hc:.3f} s CPU -> {hw / fw:.2f}x / {hc / fc:.2f}x a forward pass")
    print(
        f"HVP torch.func jvp(grad), one batch: {jw:.3f} s wall, {jc:.3f} s CPU -> {jw / fw:.2f}x / {jc / fc:.2f}x",
        flush=True,
    )

    spec = HessianSpec(tol=args.tol, max_steps=args.max_steps)
    ev = CurvatureEvaluator(model, spec, (x, y), "ce", args.batch_size, directions)
    coords = [(0.0, 0.0), (0.5, 0.5), (-0.5, 0.25), (1.0, -1.0)][: args.points]
    for xy in coords:
        flat.set_point(*xy)
        w, c = time.perf_counter(), time.process_time()
        got = ev.evaluate()
        print(
            f"lanczos tol {args.tol} at {xy}: {ev.steps[-1]} steps, {time.perf_counter() - w:.1f} s wall, "
            f"{time.process_time() - c:.1f} s CPU; max {got['max_eig']:.5g} min {got['min_eig']:.5g} "
            f"|min/max| {abs(got['min_eig'] / got['max_eig']):.4f}",
            flush=True,
        )
    flat.restore()
    if not args.eigsh:
        return
    tight = lanczos(op, start_vector(op.n, 7), 300, stop=extremes_converged(1e-5))
    rho = max(abs(tight.ritz[0]), abs(tight.ritz[-1]))
    print(f"tight Lanczos (tol 1e-5): {tight.steps} steps, max {tight.ritz[-1]:.6g} min {tight.ritz[0]:.6g}")
    for label, fn in (
        ("ours", lambda: (lambda g: (g["max_eig"], g["min_eig"]))(ev.evaluate())),  # counted in ev.op
        ("eigsh BE k=2", lambda: eigsh_both_ends(op, args.tol)),
        ("reference recipe", lambda: reference_extremes(op, 1e-2)),
    ):
        before, w = op.count + ev.op.count, time.perf_counter()
        top, low = fn()
        hvps = op.count + ev.op.count - before
        err = max(abs(top - tight.ritz[-1]), abs(low - tight.ritz[0])) / rho
        print(
            f"{label}: {hvps} HVPs, {time.perf_counter() - w:.1f} s, max {top:.6g} min {low:.6g}, "
            f"error {err:.1e} x spectral radius ({'meets' if err <= args.tol else 'misses'} tol {args.tol})",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="resnet20,resnet56")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tol", type=float, default=HessianSpec().tol)
    p.add_argument("--max-steps", type=int, default=HessianSpec().max_steps)
    p.add_argument("--points", type=int, default=2, help="grid points for the Lanczos steps (centre first)")
    p.add_argument("--checkpoint-dir", type=Path, default=ROOT / "precomputed" / "checkpoints")
    p.add_argument("--paper", action="store_true", help="the paper's ResNet-56 checkpoint instead of the gallery's")
    p.add_argument("--no-eigsh", dest="eigsh", action="store_false", help="skip the SciPy comparison")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}")
    for name in args.models.split(","):
        bench_model(name, args)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
