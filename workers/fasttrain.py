"""Fast training for the gallery: converge in few epochs on one GPU.

The paper's recipe (:mod:`workers.train`: SGD, step decay, 300 epochs) takes hours per model; this one
aims at comparable accuracy in tens of epochs (the GPU build reports what each model reached): a one-cycle learning rate (warm up to the peak, anneal to
almost nothing), Nesterov momentum, label smoothing and large batches, under bfloat16 autocast with
channels-last activations where the device is a GPU. The data is decoded once and stays on the device as
one tensor; random crops (4-pixel padding) and flips run there too (:func:`workers.train.augment_batch`).

Epochs are not guessed: :func:`measure_step_seconds` times a few steps, and the gallery's GPU build
(:mod:`workers.gallery_gpu`) sizes the epochs to its time budget from that. A run is short (a minute), so
it is not resumable per epoch: an interrupted run starts again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from .checkpoints import INIT_SEED, build_model
from .data import NORMALIZATION, load_raw, to_tensor
from .evaluate import Evaluator
from .progress import counted
from .train import augment_batch


class OneCycleRecipe(BaseModel):
    """The fast recipe. ``epochs`` None: sized from a measured run to a time budget before training."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["onecycle"]
    epochs: int | None = Field(None, ge=1)
    batch_size: int = Field(512, ge=2)
    lr: float = Field(0.2, gt=0, description="peak learning rate")
    pct_start: float = Field(0.25, gt=0, lt=1, description="share of the steps spent warming up")
    div_factor: float = Field(25.0, gt=1, description="initial lr = lr / div_factor")
    final_div_factor: float = Field(1e3, gt=1, description="final lr = initial lr / final_div_factor")
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    augment: bool = True  # random crop (4-pixel padding) + horizontal flip, on the device
    bf16: bool = True  # autocast where the device supports it (CUDA); fp32 elsewhere
    channels_last: bool = True
    seed: int = 0

    def line(self) -> str:
        """The recipe in one line, as the gallery shows it."""
        epochs = f"{self.epochs} epochs" if self.epochs else "epochs sized to a time budget"
        return (
            f"{epochs}, one-cycle SGD (peak lr {self.lr:g}, {'Nesterov ' if self.nesterov else ''}momentum "
            f"{self.momentum:g}), label smoothing {self.label_smoothing:g}, wd {self.weight_decay:g}, batch "
            f"{self.batch_size}{', bf16' if self.bf16 else ''}{', crop+flip' if self.augment else ''}, "
            f"seed {self.seed}"
        )


@dataclass
class ResidentData:
    """Both splits normalized once and kept on the device."""

    x_train: torch.Tensor  # (N, C, H, W) float32
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor

    @classmethod
    def load(cls, dataset: str, data_root: str | None, device: str | torch.device) -> ResidentData:
        mean, std = NORMALIZATION.get(dataset) or (None, None)
        tensors = []
        for split in ("train", "test"):
            x, y = load_raw(dataset, split, data_root)
            tensors += [to_tensor(x, mean, std).to(device), torch.as_tensor(y).to(device)]
        return cls(*tensors)


def _autocast(recipe: OneCycleRecipe, device: torch.device):
    if recipe.bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision(recipe: OneCycleRecipe, device: torch.device) -> str:
    """What the training's forward and backward passes run in on ``device``."""
    return "bf16 autocast" if recipe.bf16 and device.type == "cuda" else "fp32"


class _Run:
    """Model, optimizer and one-cycle schedule of a run of ``epochs`` epochs."""

    def __init__(self, model_name: str, recipe: OneCycleRecipe, data: ResidentData, epochs: int, device: torch.device):
        self.recipe, self.data, self.device = recipe, data, device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED + recipe.seed)
            self.model = build_model(model_name).to(device)
        self.memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        n = len(data.y_train)
        self.batch_size = min(recipe.batch_size, n)
        self.steps_per_epoch = n // self.batch_size  # the last partial batch is dropped: BN needs > 1 sample
        total = epochs * self.steps_per_epoch
        if recipe.pct_start * total < 2:  # torch's OneCycleLR divides by zero on a warm-up under two steps
            raise ValueError(
                f"{counted(epochs, 'epoch')} of {self.steps_per_epoch} steps are too few for a one-cycle schedule "
                f"warming up over {recipe.pct_start:g} of them; train more epochs or use smaller batches"
            )
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov,
            weight_decay=recipe.weight_decay,
        )
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer,
            max_lr=recipe.lr,
            total_steps=total,
            pct_start=recipe.pct_start,
            div_factor=recipe.div_factor,
            final_div_factor=recipe.final_div_factor,
            cycle_momentum=False,
        )

    def epoch(self, epoch: int, max_steps: int | None = None) -> tuple[float, float]:
        """Train one epoch (or its first ``max_steps`` steps); returns mean train loss and accuracy."""
        d, r = self.data, self.recipe
        gen = torch.Generator().manual_seed(r.seed * 100_003 + epoch)
        order = torch.randperm(len(d.y_train), generator=gen).to(self.device)
        self.model.train()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.float64)
        steps = self.steps_per_epoch if max_steps is None else min(max_steps, self.steps_per_epoch)
        for step in range(steps):
            idx = order[step * self.batch_size : (step + 1) * self.batch_size]
            xb, yb = d.x_train[idx], d.y_train[idx]
            if r.augment:
                xb = augment_batch(xb, gen)
            xb = xb.contiguous(memory_format=self.memory_format)
            with _autocast(r, self.device):
                out = self.model(xb)
            loss = F.cross_entropy(out.float(), yb, label_smoothing=r.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            loss_sum += loss.detach().double() * len(yb)
            correct += (out.argmax(1) == yb).sum()
        seen = steps * self.batch_size
        return (loss_sum / seen).item(), (100.0 * correct / seen).item()


@contextlib.contextmanager
def _cudnn_autotuned():
    """cuDNN picks the fastest convolution algorithms for the (fixed) training shapes; restored after."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


MEASURE_SCHEDULE_EPOCHS = 30  # the schedule the timed steps are the start of (only its first steps run)


def measure_step_seconds(
    model_name: str,
    recipe: OneCycleRecipe,
    data: ResidentData,
    device: str | torch.device,
    steps: int = 20,
    warmup: int = 5,
) -> tuple[float, int]:
    """Seconds per training step of ``model_name`` (after ``warmup`` steps: cuDNN's autotuning, the
    allocator), and the steps per epoch; the model trained here is thrown away."""
    device = torch.device(device)
    run = _Run(model_name, recipe, data, epochs=MEASURE_SCHEDULE_EPOCHS, device=device)
    warmup, steps = min(warmup, run.steps_per_epoch), max(1, min(steps, run.steps_per_epoch))
    with _cudnn_autotuned():
        run.epoch(0, max_steps=warmup)
        _sync(device)
        t0 = time.perf_counter()
        run.epoch(1, max_steps=steps)
        _sync(device)
    return (time.perf_counter() - t0) / steps, run.steps_per_epoch


def fast_train(
    model_name: str,
    recipe: OneCycleRecipe,
    data: ResidentData,
    device: str | torch.device,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train ``model_name`` with ``recipe`` (its epochs set). Returns the weights (contiguous, on the CPU)
    and the training record: recipe, precision, device, seconds, per-epoch history and the test accuracy
    on the whole test split, measured in exact fp32 by the engine's :class:`Evaluator`."""
    if recipe.epochs is None:
        raise ValueError("the recipe's epochs are not set; size them first (precomputed/build_gpu.py)")
    device = torch.device(device)
    run = _Run(model_name, recipe, data, recipe.epochs, device)
    history = []
    t_start = time.perf_counter()
    for epoch in range(recipe.epochs):
        t0 = time.perf_counter()
        lr = run.optimizer.param_groups[0]["lr"]
        with _cudnn_autotuned():
            train_loss, train_acc = run.epoch(epoch)
        history.append(
            {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "seconds": time.perf_counter() - t0,
            }
        )
        log(f"epoch {epoch + 1}/{recipe.epochs}  lr {lr:.4g}  train loss {train_loss:.4f} acc {train_acc:.2f}")
    seconds = time.perf_counter() - t_start
    model = run.model.to(memory_format=torch.contiguous_format).eval()
    tested = Evaluator(model, {"test": (data.x_test, data.y_test)}, batch_size=500, device=device).evaluate()
    record = {
        "recipe": recipe.model_dump(mode="json"),
        "line": recipe.line(),
        "precision": precision(recipe, device),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": str(torch.__version__),
        "steps_per_epoch": run.steps_per_epoch,
        "train_samples": int(len(data.y_train)),
        "seconds": seconds,
        "history": history,
        "test_loss": tested["test_loss"],
        "test_acc": tested["test_acc"],
    }
    log(f"trained {model_name} in {seconds:.1f}s: test accuracy {tested['test_acc']:.2f}%")
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return weights, record
