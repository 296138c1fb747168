"""The ``lossatlas`` command line: engine subcommands (``compute`` ...). The server package adds
``serve``; see ``server/cli.py``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from pydantic import ValidationError

from .progress import ProgressBar
from .spec import SurfaceSpec


def one_line(error: Exception) -> str:
    """A validation or value error as one readable line."""
    if isinstance(error, ValidationError):
        parts = []
        for e in error.errors():
            where = ".".join(str(p) for p in e["loc"]) or "spec"
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {msg}")
        return "; ".join(parts)
    return str(error).split("\n")[0]


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers (e.g. 0.5,0.5,0.5)") from None


def add_compute(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compute",
        help="compute a 1-D or 2-D loss surface into an HDF5 file (resumable)",
        description="Compute L(w + x*dx + y*dy) on a grid. Run the same command again to resume.",
    )
    p.add_argument("--model", required=True, help="zoo name (resnet56, resnet56_noshort, vgg9, ...) or package.module:function")
    p.add_argument("--checkpoint", help="model weights (.t7/.pt/.pth; loaded with weights_only)")
    p.add_argument("--data", default="cifar10", help="cifar10, cifar10-jpeg, imagefolder, mnist, fashion-mnist or tensors")
    p.add_argument("--data-root", help="directory or archive holding the data (tensors: the .npz/.pt file)")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    p.add_argument("--split", default="train", help="train, test or both")
    p.add_argument("--samples", type=int, help="evaluate a seeded random subset of this many samples per split")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--mean", type=_floats, help="per-channel normalization mean, overrides the dataset's")
    p.add_argument("--std", type=_floats, help="per-channel normalization std")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--loss", default="ce", help="ce (cross-entropy) or mse")
    p.add_argument("--x", required=True, help="x axis as min:max:num, e.g. -1:1:51")
    p.add_argument("--y", help="y axis as min:max:num; omit for a 1-D surface")
    p.add_argument("--dir-file", help="use the directions in this HDF5 file (ours or the reference code's)")
    p.add_argument("--norm", default="filter", help="filter (default), layer, weight or none")
    p.add_argument("--ignore", default="biasbn", help="biasbn (default: zero direction for 1-D weights) or none")
    p.add_argument("--dir-type", default="weights", help="weights or states (adds BatchNorm running statistics)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    p.add_argument("--same-dir", action="store_true", help="use the x direction for y too")
    p.add_argument("--target", help="checkpoint to interpolate towards: x direction = target - model")
    p.add_argument("--target-y", help="second target for a plane through three models")
    p.add_argument("--fast", action="store_true", help="faster, not bit-exact: BN folding, channels-last, bf16")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    p.add_argument("--out", required=True, help="surface file to write (or resume)")
    p.set_defaults(func=run_compute)


def spec_from_args(args: argparse.Namespace) -> SurfaceSpec:
    kind = "target" if args.target else "random"
    return SurfaceSpec(
        model=args.model, checkpoint=args.checkpoint, dataset=args.data, data_root=args.data_root,
        download=args.download, split=args.split, samples=args.samples, sample_seed=args.sample_seed,
        mean=args.mean, std=args.std, batch_size=args.batch_size, loss=args.loss,
        directions=dict(kind=kind, seed=args.seed, norm=args.norm, ignore=args.ignore, dir_type=args.dir_type,
                        same_dir=args.same_dir, target=args.target, target_y=args.target_y),
        dir_file=args.dir_file, x=args.x, y=args.y, fast=args.fast,
    )


def run_compute(args: argparse.Namespace) -> int:
    from .surface import compute_surface

    spec = spec_from_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    for label, path in (("checkpoint", spec.checkpoint), ("dir-file", spec.dir_file),
                        ("target", spec.directions.target), ("target-y", spec.directions.target_y)):
        if path and not Path(path).is_file():
            raise ValueError(f"--{label} {path} does not exist")
    bar = ProgressBar(spec.num_points)

    def show(p):
        bar.update(p.done, p.rate, p.eta, f"{p.computed} new")

    out = Path(args.out)
    print(f"lossatlas: {spec.model} on {spec.dataset}/{spec.split}, {spec.num_points} points -> {out}", file=sys.stderr)
    surface = compute_surface(spec, out, device=args.device, progress=show)
    done = int(surface.done.sum())
    print(f"lossatlas: {done}/{surface.done.size} points in {out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lossatlas", description="Loss landscapes of neural networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_compute(sub)
    return parser


_AXIS_OPTIONS = ("--x", "--y")


def _join_axis_values(argv: list[str]) -> list[str]:
    """``--x -1:1:51`` -> ``--x=-1:1:51``: argparse would take ``-1:1:51`` for an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in _AXIS_OPTIONS:
            value = next(it, None)
            out.append(arg if value is None else f"{arg}={value}")
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    parser = parser or build_parser()
    args = parser.parse_args(_join_axis_values(sys.argv[1:] if argv is None else list(argv)))
    try:
        return args.func(args)
    except (ValueError, ValidationError, FileNotFoundError) as e:
        parser.exit(2, f"lossatlas {args.command}: error: {one_line(e)}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"\nlossatlas {args.command}: interrupted; run the same command again to resume\n")


if __name__ == "__main__":
    sys.exit(main())
