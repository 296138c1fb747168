"""Moving weights through the flat buffer and evaluating loss and accuracy, against plain loops."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from independent import make_model, perturbed, plain_metrics

from workers.directions import random_directions
from workers.evaluate import Evaluator, FlatWeights


def as_numpy(directions):
    return [[t.numpy() for t in d] for d in directions]


@pytest.mark.parametrize("dir_type", ["weights", "states"])
def test_set_point_equals_a_hand_built_perturbed_copy(dir_type):
    base = make_model("tinycnn")
    model = copy.deepcopy(base)
    dirs = random_directions(model, seed=2, dir_type=dir_type, ignore="none")
    flat = FlatWeights(model, dirs, dir_type)
    for coords in [(0.3, -0.7), (-1.0, 1.0), (1e-3, 0.0)]:
        flat.set_point(*coords)
        expected = perturbed(base, as_numpy(dirs), coords, dir_type)
        for (name, got), want in zip(model.state_dict().items(), expected.state_dict().values()):
            assert torch.equal(got, want), name  # bit for bit: one float32 rounding of x*dx + y*dy
    flat.restore()
    for got, want in zip(model.state_dict().values(), base.state_dict().values()):
        assert torch.equal(got, want)


def test_set_point_moves_the_outputs_too(data):
    base = make_model("tinycnn")
    model = copy.deepcopy(base)
    dirs = random_directions(model, seed=2)
    flat = FlatWeights(model, dirs)
    x = data["train"][0]
    flat.set_point(0.5, 0.25)
    with torch.no_grad():
        torch.testing.assert_close(model(x), perturbed(base, as_numpy(dirs), (0.5, 0.25))(x))
    with pytest.raises(ValueError, match="expected 2 coordinates, got 1"):
        flat.set_point(0.5)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("batch_size", [7, 16, 1000])
def test_evaluator_matches_the_plain_loop(model, data, loss, batch_size):
    got = Evaluator(model, data, loss, batch_size).evaluate()
    assert set(got) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    for split, (x, y) in data.items():
        want_loss, want_acc = plain_metrics(model, x, y, batch_size=13, loss=loss)
        np.testing.assert_allclose(got[f"{split}_loss"], want_loss, rtol=1e-6)
        assert got[f"{split}_acc"] == pytest.approx(want_acc, abs=1e-9)


class Fixed(torch.nn.Module):
    """Returns preset logits whatever the input (the input is the sample index)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits
        self.scale = torch.nn.Parameter(torch.ones(2, 2))  # a weight, so the model looks like one

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.logits[index.long()]


def test_accuracy_is_percent_correct_over_all_samples_and_loss_is_the_sample_mean():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0, 2])  # right, right, wrong, wrong, tie: argmax 0 -> wrong
    out = Evaluator(Fixed(logits), {"train": (torch.arange(5), labels)}, batch_size=2).evaluate()
    assert out["train_acc"] == pytest.approx(40.0)
    p = torch.softmax(logits.double(), 1)[torch.arange(5), labels]
    assert out["train_loss"] == pytest.approx(float(-p.log().mean()), rel=1e-6)
    mse = Evaluator(Fixed(logits), {"train": (torch.arange(5), labels)}, loss="mse", batch_size=3).evaluate()
    onehot = torch.nn.functional.one_hot(labels, 3).double()
    want = ((torch.softmax(logits.double(), 1) - onehot) ** 2).mean(1).mean()
    assert mse["train_loss"] == pytest.approx(float(want), rel=1e-6)


class RecordsTF32(Fixed):
    """Notes the TF32 switches cuDNN and cuBLAS read during each forward pass."""

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        self.seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return super().forward(index)


@pytest.mark.parametrize("fast", [False, True])
def test_exact_evaluations_run_with_tf32_off_and_restore_the_callers_setting(fast):
    """PyTorch lets cuDNN convolutions use TF32 by default; every exact evaluation (a model's test
    accuracy in the gallery, a path's checkpoints, ...) must turn it off, a fast forward leaves it be."""
    model = RecordsTF32(torch.zeros(4, 3))
    model.seen = []
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        splits = {"train": (torch.arange(4), torch.zeros(4, dtype=torch.long))}
        Evaluator(model, splits, batch_size=2, forward=model.forward if fast else None).evaluate()
        assert model.seen == [(fast, fast)] * 2
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_hessian_vector_products_run_with_tf32_off():
    from workers.hessian import HessianOperator

    class Recorder(torch.nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
            return super().forward(x)

    model = Recorder(3, 2)
    model.seen = []
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        op = HessianOperator(
            model, list(model.parameters()), torch.randn(4, 3), torch.tensor([0, 1, 1, 0]), batch_size=2
        )
        op.matvec(torch.ones(op.n))
        assert model.seen == [(False, False)] * 2
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_evaluator_refuses_bad_options(model, data):
    with pytest.raises(ValueError, match="loss must be one of ce, mse"):
        Evaluator(model, data, loss="nll")
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        Evaluator(model, data, batch_size=0)


KEPT_MEMORY_PROBE = """
import ctypes, resource
# no transparent huge pages in this process (PR_SET_THP_DISABLE): where the machine's setting is `always`, memory
# mapped afresh faults once per 2 MiB, not per 4 KiB page, and the default below looked like memory kept
assert ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0) == 0, ctypes.get_errno()
import torch
from workers.evaluate import Evaluator
from workers.zoo import create_model

model, x = create_model("resnet20").eval(), torch.zeros(128, 3, 32, 32)

def faults_of_a_forward_pass():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with torch.inference_mode():
        model(x)  # megabytes of activations, allocated, touched and freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults_of_a_forward_pass()
default = min(faults_of_a_forward_pass() for _ in range(3))
Evaluator(torch.nn.Linear(2, 2), {"train": (torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))})
faults_of_a_forward_pass()  # the first one maps the memory that is kept from then on
kept = min(faults_of_a_forward_pass() for _ in range(3))  # (the host's memory manager may unmap a page now and then)
print(default * resource.getpagesize(), kept * resource.getpagesize())  # bytes: pages are 4 KiB to 64 KiB
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
@pytest.mark.parametrize("tunables", [None, "glibc.malloc.hugetlb=1"], ids=["malloc-default", "malloc-huge-pages"])
def test_cpu_evaluator_keeps_freed_memory_so_batches_stop_page_faulting(tunables):
    """Activations freed after a batch stay mapped for the next one (see bench/README.md). Whatever the machine's
    transparent-huge-page setting: glibc's ``hugetlb=1`` asks for huge pages as THP ``always`` gives them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("GLIBC_TUNABLES", None)
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    out = subprocess.run([sys.executable, "-c", KEPT_MEMORY_PROBE], capture_output=True, text=True, env=env, check=True)
    default, kept = map(int, out.stdout.split())  # bytes faulted in
    # A forward pass, not one big tensor allocated again and again: glibc may not fit a freed block exactly
    # the size of the next aligned request (a pattern that depends on the heap's layout, not a forward pass's).
    assert default > 20 * 2**20  # activations mapped afresh every pass (about 70 MiB here)
    assert kept < 400 * 2**10
