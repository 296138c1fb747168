"""Training zoo models the way the paper did: SGD with momentum, step-decayed learning rate, weight
decay, random crops with 4-pixel padding and horizontal flips.

Everything random comes from generators seeded by (seed, epoch), and a full training state (model,
optimizer, epoch, history) is saved atomically after every epoch, so an interrupted run resumes from the
last finished epoch and ends exactly where an uninterrupted run would. Every ``save_every`` epochs a
checkpoint ``epoch_{k}.pt`` is kept (``epoch_0.pt``: the initialisation), and every
``save_every_steps`` steps a ``step_{k}.pt``: the path for PCA directions (:mod:`workers.trajectory`).
Each holds the weights, the epoch or step and the training recipe. The paper's comparisons (SGD vs
Adam, small vs large batch, weight decay on and off) are settings of :class:`TrainConfig`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoints import INIT_SEED, build_model, why_not_loaded
from .checks import check_data_fits
from .data import NORMALIZATION, load_raw, subset_indices, to_tensor
from .evaluate import Evaluator
from .files import atomic_path, writing
from .progress import counted, duration

Optimizer = Literal["sgd", "adam"]  # sgd (with momentum) or adam (momentum unused)
OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; defaults are the paper's (Li et al. 2018, section 4 / appendix)."""

    model: str
    dataset: str = "cifar10"
    data_root: str | None = None
    epochs: int = 300
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of `epochs` where lr is multiplied by gamma
    gamma: float = 0.1
    augment: bool = True  # random crop (4-pixel padding) + horizontal flip
    seed: int = 0
    save_every: int = 0  # keep epoch_{k}.pt every k epochs, and epoch_0.pt (0: only the final one)
    optimizer: Optimizer = "sgd"
    save_every_steps: int = 0  # keep step_{k}.pt every k optimizer steps, and step_0.pt (0: none)
    train_samples: int = 0  # train on a seeded subset of this many images (0: the whole split)
    test_samples: int = 0  # report test loss/accuracy per epoch on a seeded subset (0: the whole split)
    model_args: dict[str, Any] | None = None  # keyword arguments of the model function (JSON values)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.save_every < 0 or self.save_every_steps < 0:
            raise ValueError("save_every and save_every_steps must be 0 (off) or positive")
        if self.train_samples < 0 or self.test_samples < 0:
            raise ValueError("train_samples and test_samples must be 0 (the whole split) or positive")
        if self.seed < 0:  # torch takes a seed modulo 2**64: -1 would draw what 2**64 - 1 draws
            raise ValueError(f"seed must be 0 or more, got {self.seed}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr (the learning rate) must be positive, got {self.lr}")
        for name in ("momentum", "weight_decay"):  # torch's refusal named neither option
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.gamma <= 0:
            raise ValueError(f"gamma (the learning rate's factor at each milestone) must be positive, got {self.gamma}")
        if any(not 0 < m < 1 for m in self.milestones):
            raise ValueError(f"milestones are fractions of the epochs strictly between 0 and 1, got {self.milestones}")
        if len(set(self.milestones)) < len(self.milestones):
            raise ValueError(f"milestones must differ (each is one drop of the learning rate), got {self.milestones}")

    def milestone_epochs(self) -> list[int]:
        """The (0-based) epoch at which each milestone drops the learning rate, in order: its fraction of the
        epochs rounded, after the first epoch at the earliest (a short run, ``epochs=1`` where round(0.5) is 0,
        starts at ``lr`` as given). Milestones that round to one epoch (0.5 and 0.75 of 3 epochs: both 2) go
        to distinct epochs up to the last when there are enough of them (1 and 2), rather than dropping the
        learning rate twice at once; runs where they round apart keep these epochs."""
        at = [max(1, round(m * self.epochs)) for m in sorted(self.milestones)]
        if len(set(at)) == len(at) or len(at) > self.epochs - 1:
            return at
        for i in range(1, len(at)):  # each after the one before it ...
            at[i] = max(at[i], at[i - 1] + 1)
        for i in reversed(range(len(at))):  # ... and all of them within the run
            at[i] = min(at[i], self.epochs - len(at) + i)
        return at

    def lr_at(self, epoch: int) -> float:
        """Learning rate of a (0-based) epoch: ``lr`` times ``gamma`` for each milestone passed."""
        drops = sum(epoch >= at for at in self.milestone_epochs())
        return self.lr * self.gamma**drops


@dataclass
class EpochStats:
    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    seconds: float


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[EpochStats] = field(default_factory=list)
    checkpoint: Path | None = None


def augment_batch(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 32x32 crops of the 4-pixel zero-padded images and random horizontal flips (NCHW)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=gen).to(x.device)
    dy = torch.randint(0, 9, (n,), generator=gen).to(x.device)
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)[None, :]  # (n, h)
    cols = dx[:, None] + torch.arange(w, device=x.device)[None, :]  # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def _save_atomic(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _recipe(config: TrainConfig) -> dict:
    return asdict(config) | {"milestones": list(config.milestones)}


def _other_settings(saved: dict, config: TrainConfig) -> list[str]:
    """The settings in which a saved recipe differs from ``config``'s; fields added since it was saved
    count at their defaults."""
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    old, new = {**defaults, "milestones": list(TrainConfig.milestones), **saved}, _recipe(config)
    for recipe in (old, new):  # the same data named relatively, or from another directory, is the same
        if recipe.get("data_root") is not None:
            recipe["data_root"] = str(Path(recipe["data_root"]).resolve())
    return [k for k in new if old.get(k) != new[k]] + [k for k in old if k not in new]


_STATE_KEYS = ("config", "state_dict", "optimizer", "history", "epoch")  # of last.pt


def _run_state(path: Path, device: torch.device) -> dict[str, Any]:
    """A run directory's ``last.pt``, what a run resumes from; one that cannot be read is refused in one line
    naming the fix (torch's own error was a traceback)."""
    fix = f"remove it to train {path.parent} from the start, or choose another --out"
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises several types (KeyError, UnpicklingError, RuntimeError) for such files
        raise ValueError(f"training state {path} {why_not_loaded(path, e, fix)}") from None
    if not (isinstance(state, dict) and all(k in state for k in _STATE_KEYS)):
        raise ValueError(f"{path} holds no lossatlas training state; {fix}")
    return state


class OtherTrainSettings(ValueError):
    """A run directory holds a run of another recipe: ``fields`` names the settings that differ (the
    command line names them by its options)."""

    def __init__(self, path: Path, fields: list[str], named: list[str] | None = None):
        self.path, self.fields = path, fields
        super().__init__(
            f"{path} was written by a training run with other settings ({', '.join(named or fields)}); "
            "use another output directory"
        )


def _check_schedule(path: Path, history: list[dict], config: TrainConfig) -> None:
    """Refuse to resume a run whose finished epochs had other learning rates than ``config`` gives them now
    (milestones placed by an older rule): its remaining epochs would follow another schedule."""
    for h in history:
        now = config.lr_at(h["epoch"] - 1)
        if not math.isclose(h["lr"], now, rel_tol=1e-9):
            raise ValueError(
                f"{path} was trained at lr {h['lr']:g} in epoch {h['epoch']}, where this lossatlas's schedule "
                f"gives {now:g} (milestone epochs placed by an older version); use another output directory"
            )


def _same_samples(a: tuple, b: tuple) -> bool:
    """Whether two splits, (inputs, labels) each, hold the very same samples in the same order."""
    return all(x.shape == y.shape and (x is y or np.array_equal(x, y)) for x, y in zip(a, b))


def make_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def train(
    config: TrainConfig,
    out_dir: str | Path,
    device: str = "cpu",
    progress: Callable[[int, int, int, float, float], None] | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``config.model`` into ``out_dir`` (``last.pt`` state, ``final.pt`` weights, epoch checkpoints).

    ``progress(epoch, step, steps, loss, acc)`` is called as each epoch starts (step 0; loss and acc NaN)
    and after every step, with the epoch's running means. Resumes from ``last.pt``
    when it exists and was written with the same config; refuses one written with another. Another run
    training into ``out_dir`` meanwhile is refused (:class:`~workers.files.OutputBusy`).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(
            f"{out_dir} is a file; a training run writes a directory (last.pt, final.pt): choose another --out"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)  # where the run's lock file goes
    with writing(out_dir):
        return _train(config, out_dir, device, progress, log)


def _train(
    config: TrainConfig,
    out_dir: Path,
    device: str,
    progress: Callable[[int, int, int, float, float], None] | None,
    log: Callable[[str], None],
) -> TrainResult:
    """:func:`train`, holding ``out_dir``'s lock."""
    dev = torch.device(device)
    state_path = out_dir / "last.pt"

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED + config.seed)
        model = build_model(config.model, config.model_args).to(dev)
    optimizer = make_optimizer(config, model)
    result = TrainResult(config)
    start_epoch = 0
    if state_path.exists():
        state = _run_state(state_path, dev)
        if other := _other_settings(state["config"], config):
            raise OtherTrainSettings(state_path, other)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        result.history = [EpochStats(**h) for h in state["history"]]
        start_epoch = state["epoch"]
        if start_epoch < config.epochs:
            _check_schedule(state_path, state["history"], config)
            log(f"resuming {config.model} at epoch {start_epoch + 1}/{config.epochs}")
        else:
            log(f"nothing to train: {out_dir} holds {config.model} trained for {counted(config.epochs, 'epoch')}")

    mean, std = NORMALIZATION.get(config.dataset) or (None, None)
    xs_train, ys_train = load_raw(config.dataset, "train", config.data_root)
    xs_test, ys_test = load_raw(config.dataset, "test", config.data_root)
    # a tensors file with only x and y gives the same samples as both splits (load_raw warns of it)
    tested_on = "test" if not _same_samples((xs_train, ys_train), (xs_test, ys_test)) else "test (training samples)"
    keep_train = subset_indices(len(ys_train), config.train_samples or None, config.seed, "train")
    keep_test = subset_indices(len(ys_test), config.test_samples or None, config.seed, "test")
    xs_train, ys_train, xs_test, ys_test = (
        xs_train[keep_train],
        ys_train[keep_train],
        xs_test[keep_test],
        ys_test[keep_test],
    )
    x_train, y_train = to_tensor(xs_train, mean, std).to(dev), torch.as_tensor(ys_train).to(dev)
    x_test, y_test = to_tensor(xs_test, mean, std).to(dev), torch.as_tensor(ys_test).to(dev)
    check_data_fits(model.eval(), {"train": (x_train, y_train), "test": (x_test, y_test)}, config.model, dev)
    n = len(y_train)
    steps = (n + config.batch_size - 1) // config.batch_size
    test_split = Evaluator(model, {"test": (x_test, y_test)}, batch_size=500, device=dev)
    out_dir.mkdir(parents=True, exist_ok=True)  # now that the settings, the model and the data are fine

    def keep(name: str, **info) -> None:
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        _save_atomic({"state_dict": weights, **info, "config": _recipe(config)}, out_dir / name)

    if start_epoch == 0:  # the path's start
        if config.save_every:
            keep("epoch_0.pt", epoch=0)
        if config.save_every_steps:
            keep("step_0.pt", step=0)

    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        lr = config.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = torch.randperm(n, generator=gen).to(dev)
        model.train()
        loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
        correct = torch.zeros((), device=dev, dtype=torch.float64)
        if progress is not None:  # where the epoch's time starts (a bar made at its first step showed ~1e5 steps/s)
            progress(epoch, 0, steps, math.nan, math.nan)
        for step in range(steps):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if config.augment and xb.dim() == 4:  # crops and flips are for images (NCHW); flat inputs stay
                xb = augment_batch(xb, gen)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * len(yb)
            correct += (out.argmax(1) == yb).sum()
            global_step = epoch * steps + step + 1
            if config.save_every_steps and global_step % config.save_every_steps == 0:
                keep(f"step_{global_step}.pt", step=global_step)
            if progress is not None:
                seen = min(n, (step + 1) * config.batch_size)
                progress(epoch, step + 1, steps, (loss_sum / seen).item(), (100.0 * correct / seen).item())
        tested = test_split.evaluate()
        test_loss, test_acc = tested["test_loss"], tested["test_acc"]
        stats = EpochStats(
            epoch + 1,
            lr,
            (loss_sum / n).item(),
            (100.0 * correct / n).item(),
            test_loss,
            test_acc,
            time.perf_counter() - t0,
        )
        result.history.append(stats)
        log(
            f"epoch {stats.epoch}/{config.epochs}  lr {lr:g}  train loss {stats.train_loss:.4f} acc {stats.train_acc:.2f}"
            f"  {tested_on} loss {test_loss:.4f} acc {test_acc:.2f}  ({duration(stats.seconds)})"
        )
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if config.save_every and stats.epoch % config.save_every == 0:
            keep(f"epoch_{stats.epoch}.pt", epoch=stats.epoch, acc=test_acc)
        _save_atomic(
            {
                "config": _recipe(config),
                "epoch": stats.epoch,
                "state_dict": weights,
                "optimizer": optimizer.state_dict(),
                "history": [asdict(h) for h in result.history],
            },
            state_path,
        )

    final = out_dir / "final.pt"
    last = result.history[-1] if result.history else None
    _save_atomic(
        {
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "epoch": config.epochs,
            "acc": last.test_acc if last else None,
            "history": [asdict(h) for h in result.history],
        },
        final,
    )
    result.checkpoint = final
    return result
