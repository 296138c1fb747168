"""Ray's cost and gain: the same surface computed by the local engine and by the Ray executor.

1. **Overhead**: one CPU each. The local engine with one torch thread against Ray on a local cluster of
   one CPU (one actor, one thread), alternating for ``--rounds`` rounds. Ray's time includes starting its
   actor and shipping the work to it (a cluster that is already running is the normal case: starting
   Ray itself is reported apart). Overhead = Ray / local - 1 (goal: under 5%), in wall time and in CPU
   time: the CPU seconds of the thread running ``compute_surface``, plus, for Ray, those of the actor's
   whole process (read from /proc while it runs: start-up, unpickling, Ray's threads included). On a
   shared machine the wall figures swing with others' load; the CPU figures much less.
2. **Scaling**: a ``ray.cluster_utils.Cluster`` with a head without CPUs, first one worker node of one
   CPU, then two: time on one node / time on two (ideal 2.0 where two cores are free).

Every Ray surface is checked equal, bit for bit, to the local one. Random inputs (seeded), model weights
from the zoo's seeded initialisation: the cost does not depend on them.

    python bench/bench_ray.py                          # resnet20, 7x7 points, 1,000 samples
    python bench/bench_ray.py --grid 21 --rounds 1     # the issue's full-size figure (slow on 2 cores)
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from workers import SurfaceSpec, compute_surface  # noqa: E402
from workers.checkpoints import load_model  # noqa: E402

STORE = 300 * 2**20  # object store bytes per node


_TICK = os.sysconf("SC_CLK_TCK")


def actor_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of every Ray actor process of the engine on this machine, by pid."""
    out = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if not (proc / "cmdline").read_bytes().startswith(b"ray::PointActor"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(proc.name)] = (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError, ValueError):  # ended meanwhile
            pass
    return out


def timed_surface(spec: SurfaceSpec, model, data, tmp: Path, **kwargs) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this thread and of the actors' processes, surface). This thread, not
    this process: once it has joined Ray, this process runs Ray's own threads, during local runs too."""
    out = Path(tempfile.mkdtemp(dir=tmp)) / "s.h5"
    seen: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:  # the actors' CPU time, sampled until they end (misses at most the last tick)
        while not done.wait(0.2):
            seen.update(actor_cpu_seconds())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t, c = time.perf_counter(), time.thread_time()
    surface = compute_surface(spec, out, model=model, data=data, **kwargs)
    wall, cpu = time.perf_counter() - t, time.thread_time() - c
    done.set()
    watcher.join()
    return wall, cpu + sum(seen.values()), surface


def same(a, b) -> bool:
    return all(np.array_equal(a.metrics[m], b.metrics[m]) for m in a.metrics) and np.array_equal(a.done, b.done)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet20")
    p.add_argument("--grid", type=int, default=7, help="points per axis")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--rounds", type=int, default=2, help="alternating local / Ray rounds of the overhead figure (0: none)"
    )
    p.add_argument("--no-scaling", action="store_true", help="skip the two-node figure")
    args = p.parse_args()

    os.environ["OMP_NUM_THREADS"] = "1"  # the actors' threads, as the local engine's below
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    data = {
        "train": (
            torch.randn(args.samples, 3, 32, 32, generator=gen),  # (N, 3, 32, 32)
            torch.randint(0, 10, (args.samples,), generator=gen),
        )
    }
    model = load_model(args.model, None)
    axis = f"-1:1:{args.grid}"
    spec = SurfaceSpec(model=args.model, dataset="tensors", batch_size=args.batch_size, x=axis, y=axis)
    points = args.grid**2
    print(
        f"{args.model}, {args.grid}x{args.grid} points, {args.samples} samples, batch {args.batch_size}, "
        f"torch {torch.__version__}, ray {ray.__version__}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        ray.init(num_cpus=1, object_store_memory=STORE, include_dashboard=False, logging_level=logging.WARNING)
        print(f"starting a local Ray (not counted below): {time.perf_counter() - t:.1f} s", flush=True)
        walls, cpus, local = [], [], None
        for r in range(args.rounds):
            local_s, local_cpu, local = timed_surface(spec, model, data, tmp)
            ray_s, ray_cpu, remote = timed_surface(spec, model, data, tmp, ray="auto")
            assert same(local, remote), "the Ray surface differs from the local one"
            walls.append(ray_s / local_s)
            cpus.append(ray_cpu / local_cpu)
            print(
                f"round {r + 1}: local {local_s:.1f} s wall, {local_cpu:.1f} s CPU; Ray 1 actor {ray_s:.1f} s wall, "
                f"{ray_cpu:.1f} s CPU; overhead {100 * (walls[-1] - 1):+.1f}% wall, {100 * (cpus[-1] - 1):+.1f}% CPU",
                flush=True,
            )
        if walls:
            print(
                f"overhead (median of rounds): {100 * (statistics.median(walls) - 1):+.1f}% wall, "
                f"{100 * (statistics.median(cpus) - 1):+.1f}% CPU; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        ray.shutdown()
        if args.no_scaling:
            return

        cluster = Cluster(
            initialize_head=True,
            connect=True,
            head_node_args=dict(num_cpus=0, object_store_memory=STORE, include_dashboard=False),
        )
        try:
            times = []
            for nodes in (1, 2):
                cluster.add_node(num_cpus=1, object_store_memory=STORE)
                cluster.wait_for_nodes()
                seconds, _, remote = timed_surface(spec, model, data, tmp, ray="auto")
                assert local is None or same(local, remote), "the Ray surface differs from the local one"
                local = remote  # the two-node surface must equal the one-node one
                times.append(seconds)
                print(f"{nodes} node(s) of 1 CPU: {seconds:.1f} s ({points / seconds:.2f} points/s)", flush=True)
            print(f"scaling, 1 -> 2 nodes: {times[0] / times[1]:.2f}x; load average {os.getloadavg()[0]:.1f}")
        finally:
            ray.shutdown()
            cluster.shutdown()


if __name__ == "__main__":
    main()
