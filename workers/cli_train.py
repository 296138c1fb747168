"""``lossatlas train``: a model trained into a run directory (resumable), its options set from
:class:`~workers.train.TrainConfig`'s fields and defaults."""

from __future__ import annotations

import argparse
import sys

from .progress import ProgressBar
from .spec import SurfaceSpec
from .usermodels import parse_model_args


def add_train(sub: argparse._SubParsersAction) -> None:
    from .cli import _choices, _floats, add_download_argument, add_threads_argument
    from .train import TrainConfig

    d = TrainConfig(model="")
    p = sub.add_parser(
        "train",
        help="train a model, the zoo's or your own (the paper's recipe by default; resumable, seeded)",
        description="Train with SGD + momentum (or Adam), step-decayed lr, weight decay, crop+flip augmentation. "
        "Run the same command again to resume from the last finished epoch.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="zoo name (e.g. resnet56) or package.module:function (imported from the current directory first)",
    )
    p.add_argument(
        "--model-args",
        action="append",
        default=[],
        metavar="ARGS",
        help="""keyword arguments of the model function, kept in the run's recipe: '{"hidden": 256}' or hidden=256""",
    )
    p.add_argument("--data", default="cifar10", choices=_choices(SurfaceSpec, "dataset"), help="dataset kind")
    p.add_argument("--data-root", help="directory or archive holding the data (tensors: the .npz/.pt file)")
    add_download_argument(p)

    def option(field: str, text: str, kind: type = int) -> None:  # the default is TrainConfig's
        p.add_argument(_train_flag(field), type=kind, default=getattr(d, field), help=text)

    option("epochs", "passes over the training samples")
    option("lr", "initial learning rate", float)
    option("momentum", "SGD momentum", float)
    option("weight_decay", "L2 penalty on the weights", float)
    option("batch_size", "samples per optimizer step")
    p.add_argument(
        "--milestones",
        type=_floats,
        default=d.milestones,
        help="fractions of the epochs where lr drops by --gamma, each rounded to an epoch (to distinct epochs "
        "where the run has enough) (default 0.5,0.75)",
    )
    option("gamma", "factor of the learning rate at each milestone", float)
    p.add_argument("--no-augment", action="store_true", help="no random crop / flip")
    option("seed", "seed of the initial weights, the sample order and subsets")
    option("save_every", "keep a checkpoint every k epochs and the initial one (a trajectory's path; 0: only final.pt)")
    option("save_every_steps", "keep a checkpoint every k optimizer steps and the initial one (0: none)")
    p.add_argument("--optimizer", default=d.optimizer, help="sgd (default, with --momentum) or adam")
    option("train_samples", "train on a seeded subset of this many images (default: the whole split)")
    option("test_samples", "per-epoch test figures on a seeded subset of this many images (default: the whole split)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_threads_argument(p)
    p.add_argument("--out", required=True, help="run directory (last.pt, final.pt, epoch_k.pt, step_k.pt)")
    p.set_defaults(func=run_train)


def _train_flag(field: str) -> str:
    """The option of train that sets a ``TrainConfig`` field."""
    return {"dataset": "--data", "augment": "--no-augment"}.get(field, f"--{field.replace('_', '-')}")


def run_train(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from .checkpoints import build_model
    from .checks import resolve_device
    from .cli import STOP, check_download, named_by_options, set_threads
    from .train import OtherTrainSettings, TrainConfig, train

    model_args = parse_model_args(args.model_args)
    try:
        cfg = TrainConfig(
            model=args.model,
            model_args=model_args,
            dataset=args.data,
            data_root=args.data_root,
            epochs=args.epochs,
            lr=args.lr,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            batch_size=args.batch_size,
            milestones=tuple(args.milestones),
            gamma=args.gamma,
            augment=not args.no_augment,
            seed=args.seed,
            save_every=args.save_every,
            optimizer=args.optimizer,
            save_every_steps=args.save_every_steps,
            train_samples=args.train_samples,
            test_samples=args.test_samples,
        )
    except ValueError as e:  # named by train's options
        raise ValueError(named_by_options(str(e), {f.name for f in fields(TrainConfig)}, _train_flag)) from None
    build_model(args.model, model_args)  # fail fast on an unknown name or arguments it does not take
    resolve_device(args.device)
    check_download(args)
    set_threads(args)
    if args.download:  # into the data cache, where training reads it (the run's recipe does not change)
        from .data import load_raw

        for split in ("train", "test"):
            load_raw(args.data, split, args.data_root, download=True)
    bars: dict[int, ProgressBar] = {}

    def show(epoch: int, step: int, steps: int, loss: float, acc: float) -> None:
        STOP.check()
        if epoch not in bars:  # one bar per epoch, from its start (step 0; setdefault would build one per step)
            bars[epoch] = ProgressBar(steps, unit="steps", desc=f"epoch {epoch + 1}/{cfg.epochs}")
        if step:
            bars[epoch].update(step, extra=f"loss {loss:.3f}  acc {acc:.1f}")  # the bar measures the rate

    try:
        result = train(
            cfg, args.out, device=args.device, progress=show, log=lambda m: print(f"lossatlas: {m}", file=sys.stderr)
        )
    except OtherTrainSettings as e:  # named by train's options
        raise OtherTrainSettings(e.path, e.fields, [_train_flag(f) for f in e.fields]) from None
    finally:  # an interrupted epoch's bar shows where it stopped
        for bar in bars.values():
            bar.close()
    print(f"lossatlas: weights in {result.checkpoint}", file=sys.stderr)
    return 0
