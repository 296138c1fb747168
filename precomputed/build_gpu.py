#!/usr/bin/env python3
"""Build the gallery's gpu tier on one GPU machine, in one command (workers/gallery_gpu.py says how).

    python precomputed/build_gpu.py --budget 480 --stop-after 540 --export "$OUT"

measures every model, sizes one number of epochs to the budget, trains, computes the 51x51 surfaces,
removes the entries the new ones replace, rewrites precomputed/index.json and writes a JSON report
(timings, epochs, accuracies). ``--export DIR`` also packs what the repository keeps (manifest, index,
surfaces, checkpoints small enough to commit) into DIR/gallery-gpu-<k>.tar (unpack with
``tar -xf ... -C precomputed``; each under 15 MiB) beside the report, DIR/build_gpu.json.
Rerunning continues: trained checkpoints and finished surface points are kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers import gallery, gallery_gpu  # noqa: E402
from workers.checks import resolve_device  # noqa: E402
from workers.spec import one_line  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="build_gpu.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=540.0, help="seconds of wall time for everything (default 540)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--data-root", help="the CIFAR-10 JPEG archive (default: ../shared/data or $LOSSATLAS_CIFAR10_JPEG)")
    p.add_argument("--only", action="append", help="build only this gpu-tier entry (repeatable)")
    p.add_argument("--min-epochs", type=int, default=5, help="fewest epochs worth training (default 5)")
    p.add_argument(
        "--max-epochs", type=int, default=60, help="most epochs, even when the budget allows more (default 60)"
    )
    p.add_argument(
        "--surfaces",
        default="auto",
        choices=("auto", "exact", "fast"),
        help="exact fp32, the engine's fast mode (bf16, folded BN; pinned in the manifest), or auto "
        "(default): exact unless it does not fit the budget",
    )
    p.add_argument("--directory", type=Path, default=gallery.GALLERY_DIR, help="the gallery (default precomputed/)")
    p.add_argument("--report", type=Path, help="report JSON (default <directory>/.runs/build_gpu.json)")
    p.add_argument(
        "--stop-after", type=float, help="hard stop, seconds from the start: what is left is resumed by the next run"
    )
    p.add_argument(
        "--export", type=Path, help="pack the results (tar archives, precomputed/'s layout) and the report here"
    )
    args = p.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        resolve_device(args.device)
        report = gallery_gpu.build_gpu(
            args.directory,
            args.budget,
            args.device,
            args.data_root,
            args.only,
            args.min_epochs,
            args.max_epochs,
            args.surfaces,
            args.report or args.directory / ".runs" / "build_gpu.json",
            log,
            args.stop_after,
        )
        if args.export is not None:
            copied = gallery_gpu.export(args.directory, report, args.export)
            log(f"exported {len(copied)} files to {args.export}")
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f"build_gpu.py: error: {one_line(e)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
