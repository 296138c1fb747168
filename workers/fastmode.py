"""The fast evaluation mode: faster than exact fp32, knowingly not bit-exact.

It folds every BatchNorm that directly follows a convolution into that convolution (eval-mode BN is
an affine map, so conv+BN is one conv), computes global average pooling as a mean, runs in channels-last
memory format and, where the device supports it, under bfloat16 autocast. Folding is redone after every
move in weight space (``refresh``) because the directions may perturb the BN parameters too.
``bench/bench_engine.py`` reports its speed-up and its largest deviation from the exact surface.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

FAST_MODES = ("fp32", "bf16")


def _cpu_has_bf16() -> bool:
    """bfloat16 pays on CPUs with native bf16 instructions only: elsewhere (this AVX2 machine) oneDNN
    emulates it and a forward pass under autocast was about 8x slower than fp32."""
    if not hasattr(torch.cpu, "_is_avx512_bf16_supported"):  # torch 2.4 has no such check: the kernel's flags
        from .provenance import _cpu_info

        return bool({"avx512_bf16", "amx_tile"} & set(_cpu_info()[1].split()))
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def one_line_error(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def fast_precision(fast: bool | str, device: torch.device) -> str | None:
    """The fast mode a spec's ``fast`` asks for on ``device``: None (exact), ``"fp32"`` or ``"bf16"``.

    ``True`` means bf16 on GPUs, where it is the fast mode's point, and fp32 on CPUs, where bf16 changes
    values by about 1% (ResNet-56 with AMX) or, without bf16 units, is slower: there it is asked for by name.
    """
    if fast is False:
        return None
    if fast is True:
        return "bf16" if device.type == "cuda" else "fp32"
    if fast not in FAST_MODES:
        raise ValueError(f"fast mode must be one of {', '.join(FAST_MODES)}, got {fast!r}")
    return fast


class FastForward:
    """A callable standing in for ``model(x)`` in the fast mode."""

    def __init__(self, model: nn.Module, device: torch.device, bf16: bool = False, compile: bool = False):
        self.device = device
        self.bf16 = bf16 and (device.type == "cuda" or _cpu_has_bf16())
        if bf16 and not self.bf16:
            warnings.warn("fast mode bf16: this CPU has no bf16 units (it would be slower); running fp32", stacklevel=2)
        self.pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d, nn.Conv2d]] = []
        try:
            self.module = self._fold(model)
        except Exception as e:  # models with data-dependent control flow cannot be traced
            warnings.warn(
                f"fast mode: cannot trace the model to fold BatchNorm ({e}); running it unfolded", stacklevel=2
            )
            self.module = model
        # Only the folded convolutions go channels-last: converting the model would replace every other
        # weight with a copy, cutting it off from the flat buffer that moves it through weight space.
        for _, _, fused in self.pairs:
            fused.to(memory_format=torch.channels_last)
        self.refresh()
        # torch.compile reads parameters as graph inputs, so the moves in weight space (in place) reach the
        # compiled code without recompiling; one graph per batch shape (the last batch is usually shorter).
        self.compiled = torch.compile(self.module, dynamic=False) if compile else None

    def _fold(self, model: nn.Module) -> nn.Module:
        gm = torch.fx.symbolic_trace(model)
        modules = dict(gm.named_modules())
        for node in list(gm.graph.nodes):
            if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
                continue
            prev = node.args[0]
            if not (
                isinstance(prev, torch.fx.Node)
                and prev.op == "call_module"
                and isinstance(modules.get(prev.target), nn.Conv2d)
                and len(prev.users) == 1
            ):
                continue
            conv, bn = modules[prev.target], modules[node.target]
            fused = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                conv.stride,
                conv.padding,
                conv.dilation,
                conv.groups,
                bias=True,
                padding_mode=conv.padding_mode,
            ).to(device=conv.weight.device, dtype=conv.weight.dtype)
            parent_name, _, leaf = prev.target.rpartition(".")
            setattr(gm.get_submodule(parent_name) if parent_name else gm, leaf, fused)
            node.replace_all_uses_with(prev)
            gm.graph.erase_node(node)
            self.pairs.append((conv, bn, fused))
        self._global_pools_as_means(gm, modules)
        gm.graph.lint()
        gm.recompile()
        return gm.eval()

    @staticmethod
    def _global_pools_as_means(gm: torch.fx.GraphModule, modules: dict[str, nn.Module]) -> None:
        """Global average pooling (to 1x1) as a mean over the last two dimensions: the same sums, and
        unlike ``adaptive_avg_pool2d`` of a channels-last input it has a batching rule under ``vmap``
        (K points per pass), which otherwise loops over the points with a warning."""
        for node in list(gm.graph.nodes):
            if node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
                size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
            elif node.op == "call_module" and isinstance(modules.get(node.target), nn.AdaptiveAvgPool2d):
                size = modules[node.target].output_size
            else:
                continue
            if size not in (1, (1, 1), [1, 1]):
                continue
            with gm.graph.inserting_after(node):
                mean = gm.graph.call_function(torch.mean, (node.args[0],), {"dim": (-2, -1), "keepdim": True})
            node.replace_all_uses_with(mean)
            gm.graph.erase_node(node)

    @torch.no_grad()
    def refresh(self) -> None:
        """Recompute the folded convolutions from the current conv and BN weights."""
        for conv, bn, fused in self.pairs:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C,)
            fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)

    def prepare_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        ctx = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with ctx:
            if self.compiled is not None:
                try:
                    return self.compiled(x)
                except Exception as e:  # no C++ compiler, an unsupported op, ...: the eager module still works
                    warnings.warn(
                        f"fast mode: torch.compile failed ({one_line_error(e)}); running uncompiled", stacklevel=2
                    )
                    self.compiled = None
            return self.module(x)
