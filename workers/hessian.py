"""Curvature of the loss in weight space: Hessian-vector products, Lanczos, and what is stored from them.

Li et al. (2018, section 6) judge how convex a region of a loss surface really is by the Hessian of the
loss with respect to all the weights: where its most negative eigenvalue is small next to its largest
one, the region is convex in the full weight space and not only on the plotted plane. The Hessian of a
network with n weights is never formed: its product with a vector costs about one forward and two
backward passes (double backward), and Lanczos finds the extreme eigenvalues from a few dozen products.

- :class:`HessianOperator`: ``H @ v`` summed over the batches of fixed samples on the device (the
  products of the batches in float32, their sum in float64), for the surface's loss in eval mode.
- :func:`lanczos`: Lanczos with full reorthogonalization; one Krylov space gives both ends of the
  spectrum, so the largest and smallest eigenvalue come from one run (the reference code runs SciPy's
  ``eigsh`` twice, the second time on a shifted operator; :func:`reference_extremes` does exactly that).
- :class:`CurvatureEvaluator`: ``max_eig``/``min_eig`` at the model's current weights, the function a
  point loop (local or on a cluster) calls after moving the weights; and the centre's summary as PyHessian
  reports it (top-k eigenvalues, Hutchinson trace, stochastic Lanczos quadrature density).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .directions import Direction, named_weights
from .evaluate import batch_metrics, exact_numerics
from .spec import HessianSpec

# Cost of one Hessian-vector product in no-grad forward passes of the same samples (double backward):
# 9.9x (ResNet-20) and 10.3x (ResNet-56) in CPU time, bench/bench_hessian.py (bench/README.md); a
# gradient is 3x. /api/config and the CLI's help report it.
HVP_FORWARD_EQUIVALENTS = 10.0

StepCallback = Callable[[str, int, int], None]  # (what, step, steps at most)

# The surface file's attributes of how the maps were computed: Hessian-vector products in all, and the largest
# Lanczos residual of a point relative to the spectral radius (above the tolerance: some point stopped at max_steps).
HVPS, RESIDUAL = "hessian_hvps", "hessian_residual"


def hessian_params(
    model: nn.Module, which: str, directions: Sequence[Direction] = (), dir_type: str = "weights"
) -> list[tuple[str, nn.Parameter]]:
    """The parameters the Hessian is taken over, with their names, in ``model.parameters()`` order.

    ``moved``: those a direction moves (a non-zero entry in any direction; ``dir_type`` says how the
    directions align with the model); ``reference``: every parameter with more than one dimension.
    """
    named = list(model.named_parameters())
    if which == "reference":
        chosen = [(n, p) for n, p in named if p.dim() > 1]
    elif which == "moved":
        if not directions:
            raise ValueError("hessian params 'moved' needs the directions")
        names = [n for n, _ in named_weights(model, dir_type)]
        moved = {n for i, n in enumerate(names) if any(bool(d[i].any()) for d in directions)}
        chosen = [(n, p) for n, p in named if n in moved]
    else:
        raise ValueError(f"hessian params must be one of moved, reference; got {which!r}")
    if not chosen:
        raise ValueError(f"no parameter of the model is selected by hessian params={which!r}")
    return chosen


class NonFiniteHessian(ValueError):
    """A Hessian-vector product with a NaN or infinite entry: the loss is not finite at the model's weights
    (a BatchNorm running variance moved below zero ...), and neither is its Hessian."""


class HessianOperator:
    """``v -> H v`` for the Hessian of the loss over fixed samples with respect to ``params``.

    ``scale='mean'``: the Hessian of the mean loss over all samples (the surface's loss); ``batch_sum``:
    of the sum of the batches' mean losses (the reference code's operator). The model runs in eval mode
    at whatever weights it holds when :meth:`matvec` is called. Vectors are flat ``(n,)`` tensors on the
    samples' device in ``params`` order; the result is float64.
    """

    def __init__(
        self,
        model: nn.Module,
        params: Sequence[nn.Parameter],
        x: torch.Tensor,
        y: torch.Tensor,
        loss: str = "ce",
        batch_size: int = 128,
        scale: str = "mean",
    ):
        if scale not in ("mean", "batch_sum"):
            raise ValueError(f"hessian scale must be one of mean, batch_sum; got {scale!r}")
        self.model, self.params, self.x, self.y = model, list(params), x, y
        self.loss, self.batch_size, self.scale = loss, batch_size, scale
        self.sizes = [p.numel() for p in self.params]
        self.n = sum(self.sizes)
        self.device = x.device
        self.count = 0  # products computed
        for p in self.params:
            p.requires_grad_(True)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        v32 = v.to(device=self.device, dtype=torch.float32)
        vs = [t.view_as(p) for t, p in zip(torch.split(v32, self.sizes), self.params)]
        out = torch.zeros(self.n, dtype=torch.float64, device=self.device)
        self.model.eval()
        with torch.enable_grad(), exact_numerics():  # TF32 off on GPUs, as every exact evaluation
            for start in range(0, len(self.y), self.batch_size):
                xb, yb = self.x[start : start + self.batch_size], self.y[start : start + self.batch_size]
                total, _ = batch_metrics(self.model(xb), yb, self.loss)  # summed over the batch
                loss = total / (len(self.y) if self.scale == "mean" else len(yb))
                grads = torch.autograd.grad(loss, self.params, create_graph=True)
                hv = torch.autograd.grad(grads, self.params, grad_outputs=vs)  # d(g . v)/dw = H v
                out += torch.cat([h.reshape(-1) for h in hv]).double()
        self.count += 1
        if not bool(torch.isfinite(out).all()):
            raise NonFiniteHessian("the Hessian of the loss is not finite at these weights (nor is the loss)")
        return out

    __call__ = matvec


@dataclass
class LanczosResult:
    """Ritz values (ascending), their residual norms, the first components of their vectors (SLQ
    weights are their squares), the steps taken, and whether the stopping rule was met."""

    ritz: np.ndarray
    residuals: np.ndarray
    first: np.ndarray
    steps: int
    converged: bool


def extremes_converged(tol: float) -> Callable[[np.ndarray, np.ndarray], bool]:
    """Stop when the smallest and the largest Ritz value both have residual <= tol * spectral radius."""

    def rule(theta: np.ndarray, res: np.ndarray) -> bool:
        scale = max(abs(theta[0]), abs(theta[-1]))
        return bool(res[0] <= tol * scale and res[-1] <= tol * scale)

    return rule


def top_converged(k: int, tol: float) -> Callable[[np.ndarray, np.ndarray], bool]:
    """Stop when the ``k`` largest Ritz values have residual <= tol * spectral radius."""

    def rule(theta: np.ndarray, res: np.ndarray) -> bool:
        scale = max(abs(theta[0]), abs(theta[-1]))
        return len(theta) >= k and bool(np.all(res[-k:] <= tol * scale))

    return rule


def lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    v0: torch.Tensor,
    steps: int,
    stop: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> LanczosResult:
    """Lanczos on a symmetric operator from ``v0``, with full reorthogonalization, in float64.

    Every new vector is orthogonalized against all previous ones twice (classical Gram-Schmidt, "twice is
    enough"), so the Ritz values carry no spurious copies and, after as many steps as the operator's
    rank, are its eigenvalues. After each step the tridiagonal matrix is diagonalized on the host (a few
    scalars cross; the vectors stay on the device) and ``stop(ritz, residuals)`` decides. The residual of
    a Ritz pair is ``|beta_k * s_k|``, a bound on the distance of its Ritz value to an eigenvalue. The
    basis takes ``steps * n * 8`` bytes (ResNet-56, 100 steps: 680 MB).
    """
    n = v0.numel()
    steps = min(steps, n)
    basis = torch.empty((steps, n), dtype=torch.float64, device=v0.device)
    q = v0.to(torch.float64).reshape(-1)
    q = q / torch.linalg.vector_norm(q)
    alphas: list[float] = []
    betas: list[float] = []
    theta = res = first = np.zeros(0)
    converged = False
    for j in range(steps):
        basis[j] = q
        w = matvec(q).to(torch.float64)
        alpha = torch.dot(w, q)
        w -= alpha * q
        if j > 0:
            w -= betas[-1] * basis[j - 1]
        for _ in range(2):
            w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = torch.linalg.vector_norm(w)
        alphas.append(float(alpha))
        beta_f = float(beta)
        t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        theta, s = np.linalg.eigh(t)
        res, first = np.abs(beta_f * s[-1]), s[0]
        if on_step is not None:
            on_step(j + 1)
        scale = max(abs(theta[0]), abs(theta[-1]), np.finfo(float).tiny)
        if beta_f <= 1e-12 * scale:  # invariant subspace: the Ritz values are eigenvalues
            res, converged = np.zeros_like(res), True
            break
        if stop is not None and stop(theta, res):
            converged = True
            break
        betas.append(beta_f)
        q = w / beta
    return LanczosResult(theta, res, first, len(alphas), converged)


def start_vector(n: int, seed: int, device: torch.device | str = "cpu", rademacher: bool = False) -> torch.Tensor:
    """A seeded random ``(n,)`` float64 vector (Gaussian, or +-1), drawn on the CPU so that every device
    gets the same one."""
    gen = torch.Generator().manual_seed(int(seed))
    if rademacher:
        v = torch.randint(0, 2, (n,), generator=gen).to(torch.float64).mul_(2).sub_(1)
    else:
        v = torch.randn(n, generator=gen, dtype=torch.float64)
    return v.to(device)


def reference_extremes(op: HessianOperator, tol: float = 1e-2) -> tuple[float, float]:
    """The reference code's recipe: ``eigsh(H, k=1, tol)`` (largest magnitude), then ``eigsh`` of
    ``H - 0.51*max*I`` shifted back; swapped when max <= 0 < min. Needs SciPy; vectors go through the host.
    """
    try:
        from scipy.sparse.linalg import LinearOperator, eigsh
    except ImportError:
        raise ValueError(
            "hessian method 'reference' needs SciPy: pip install scipy (or use method 'lanczos')"
        ) from None

    def hv(v: np.ndarray) -> np.ndarray:
        return op.matvec(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)).to(op.device)).cpu().numpy()

    v0 = start_vector(op.n, 0).numpy()  # ARPACK's own start vector is random: seeded here, so reruns agree
    top = float(eigsh(LinearOperator((op.n, op.n), matvec=hv, dtype=np.float64), k=1, tol=tol, v0=v0)[0][0])
    shift = 0.51 * top
    shifted = LinearOperator((op.n, op.n), matvec=lambda v: hv(v) - shift * np.asarray(v).reshape(-1), dtype=np.float64)
    low = float(eigsh(shifted, k=1, tol=tol, v0=v0)[0][0]) + shift
    if top <= 0 < low:
        top, low = low, top
    return top, low


def hutchinson_trace(
    matvec: Callable[[torch.Tensor], torch.Tensor], n: int, samples: int, seed: int, device
) -> tuple[float, float]:
    """Hutchinson's estimator of tr(H): the mean of ``v^T H v`` over Rademacher ``v``; with its standard error."""
    values = []
    for i in range(samples):
        v = start_vector(n, seed + 1000 + i, device, rademacher=True)
        values.append(float(torch.dot(v, matvec(v).to(torch.float64))))
    a = np.asarray(values)
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")


def slq_density(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    steps: int,
    runs: int,
    seed: int,
    device,
    on_step: Callable[[int], None] | None = None,
) -> tuple[list[list[float]], list[list[float]]]:
    """Stochastic Lanczos quadrature, as PyHessian's ``density``: per run, the Ritz values of ``steps``
    Lanczos steps from a Rademacher start vector (nodes) and the squared first components of their
    vectors (weights, summing to 1). The spectral density is ``sum_runs sum_i w_i delta(x - node_i) / runs``."""
    nodes, weights = [], []
    for r in range(runs):
        result = lanczos(matvec, start_vector(n, seed + 2000 + r, device, rademacher=True), steps, on_step=on_step)
        nodes.append(result.ritz.tolist())
        weights.append((result.first**2).tolist())
    return nodes, weights


class CurvatureEvaluator:
    """``max_eig`` and ``min_eig`` of the loss's Hessian at the model's current weights.

    Built once per surface; the point loop moves the weights (the parameters are views into a flat
    buffer) and calls :meth:`evaluate`. ``on_step(what, step, steps)`` reports each Lanczos step.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: HessianSpec,
        split: tuple[torch.Tensor, torch.Tensor],
        loss: str,
        batch_size: int,
        directions: Sequence[Direction] = (),
        dir_type: str = "weights",
    ):
        self.spec = spec
        named = hessian_params(model, spec.params, directions, dir_type)
        self.param_names = [n for n, _ in named]
        self.op = HessianOperator(model, [p for _, p in named], split[0], split[1], loss, batch_size, spec.scale)
        self.device = self.op.device
        self.steps: list[int] = []  # Hessian-vector products per evaluated point
        self._counted = 0  # products already handed out by take_tally
        # the largest residual of an end of the spectrum, relative to the spectral radius, over the points
        # evaluated since the last take_tally (None: none was): above ``tol`` where a run reached ``max_steps``
        # first (its Ritz values, inside the spectrum, too small)
        self._residual: float | None = None

    def evaluate(self, on_step: StepCallback | None = None) -> dict[str, float]:
        """``max_eig`` and ``min_eig`` at the model's weights: NaN where the loss is not finite (every metric
        is NaN there)."""
        before = self.op.count
        try:
            top, low = self._extremes(on_step)
        except NonFiniteHessian:
            top = low = float("nan")
        self.steps.append(self.op.count - before)
        return {"max_eig": top, "min_eig": low}

    def _extremes(self, on_step: StepCallback | None) -> tuple[float, float]:
        if self.spec.method == "reference":
            return reference_extremes(self.op, self.spec.tol)
        result = lanczos(
            self.op,
            start_vector(self.op.n, self.spec.seed, self.device),
            self.spec.max_steps,
            stop=extremes_converged(self.spec.tol),
            on_step=(lambda k: on_step("Lanczos step", k, self.spec.max_steps)) if on_step else None,
        )
        top, low = float(result.ritz[-1]), float(result.ritz[0])
        radius = max(abs(top), abs(low), np.finfo(float).tiny)
        residual = max(result.residuals[0], result.residuals[-1]) / radius
        self._residual = max(self._residual or 0.0, float(residual))
        return top, low

    def take_tally(self) -> dict[str, float]:
        """What this evaluator has done since the last call, for the surface file (:func:`add_tally`):
        ``hessian_hvps``, its Hessian-vector products (points, a resume's canary point, the centre's summary),
        and ``hessian_residual``, the largest relative Lanczos residual of its points (absent without one).
        Taken where the products ran (a Ray actor too) and sent back with the points' values."""
        tally: dict[str, float] = {}
        if self.op.count > self._counted:
            tally[HVPS] = self.op.count - self._counted
            self._counted = self.op.count
        if self._residual is not None:
            tally[RESIDUAL] = self._residual
            self._residual = None
        return tally

    def summary(self, on_step: StepCallback | None = None) -> dict[str, Any]:
        """Top-k eigenvalues (Lanczos), Hutchinson trace and SLQ density at the current weights."""
        s, op = self.spec, self.op
        before = op.count
        report = (lambda what, total: lambda k: on_step(what, k, total)) if on_step else (lambda what, total: None)
        top = lanczos(
            op,
            start_vector(op.n, s.seed, self.device),
            s.max_steps,
            stop=top_converged(s.top_k, s.tol),
            on_step=report("top-k Lanczos step", s.max_steps),
        )
        trace, trace_se = hutchinson_trace(op, op.n, s.trace_samples, s.seed, self.device)
        if on_step:
            on_step("Hutchinson probes", s.trace_samples, s.trace_samples)
        nodes, weights = slq_density(
            op,
            op.n,
            s.density_steps,
            s.density_runs,
            s.seed,
            self.device,
            on_step=report("density Lanczos step", s.density_steps),
        )
        return {
            "top_eigenvalues": [float(v) for v in top.ritz[::-1][: s.top_k]],
            "top_converged": top.converged,
            "trace": trace,
            "trace_stderr": trace_se,
            "trace_samples": s.trace_samples,
            "density_nodes": nodes,
            "density_weights": weights,
            "params": len(self.param_names),
            "dimension": op.n,
            "hvps": op.count - before,
        }


def add_tally(attrs: dict[str, Any], tally: Mapping[str, float], record_residual: bool) -> None:
    """Add a :meth:`CurvatureEvaluator.take_tally` to a surface's attributes: the products add up, the
    residual is the largest so far. ``record_residual`` False: the file has points whose residual was never
    recorded (an older version's), so it claims none, rather than a bound those points were not checked against."""
    if HVPS in tally:
        attrs[HVPS] = int(attrs.get(HVPS, 0)) + int(tally[HVPS])
    if RESIDUAL in tally and record_residual:
        attrs[RESIDUAL] = max(float(attrs.get(RESIDUAL, 0.0)), float(tally[RESIDUAL]))


def eig_ratio(min_eig: np.ndarray, max_eig: np.ndarray) -> np.ndarray:
    """``|min_eig / max_eig|``, the paper's map of non-convexity (NaN where max_eig is 0 or missing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(max_eig != 0, np.abs(np.asarray(min_eig) / np.asarray(max_eig)), np.nan)


def curvature_evaluator(
    spec, model: nn.Module, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], directions: Sequence[Direction]
) -> CurvatureEvaluator | None:
    """The evaluator a :class:`~workers.spec.SurfaceSpec` asks for (None without ``hessian``): over the
    spec's first split, its loss and batch size, the parameters its directions move."""
    if spec.hessian is None:
        return None
    return CurvatureEvaluator(
        model, spec.hessian, splits[spec.splits[0]], spec.loss, spec.batch_size, directions, spec.directions.dir_type
    )
