"""LoRA for ``nn.Linear`` layers (Hu et al. 2021): a frozen weight plus a trainable, scaled low-rank update.

Notebook 12 writes LoRA out and checks it against ``peft``; later notebooks (13) adapt a model with it from here:

    net = add_lora(model, ["blocks.0.attn.qkv", "blocks.0.attn.proj"], rank=4, alpha=8.0)  # a copy, everything frozen
    net.head.requires_grad_(True)                       # whatever else should train
    ...train...
    plain = merge_lora(net)                             # W + (alpha / r) · B A folded in: the original architecture

``B`` starts at zero, so a fresh adapter leaves the model's outputs unchanged.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    """``base(x) + (alpha / rank) · B(A(x))`` with ``base`` frozen; ``A`` Kaiming-initialised, ``B`` zero."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if not isinstance(rank, int) or rank <= 0:
            raise ValueError(f"rank must be a positive int, got {rank!r}")
        self.base, self.rank, self.scaling = base, rank, alpha / rank
        base.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the initialisation of LoRA's reference code and peft
        self.B = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * F.linear(F.linear(x, self.A), self.B)

    def merged(self) -> nn.Linear:
        """One ``nn.Linear`` with ``W + scaling · B A``: the same function, no extra matrices at inference."""
        out = copy.deepcopy(self.base)
        with torch.no_grad():
            out.weight += self.scaling * (self.B @ self.A)
        return out


def add_lora(model: nn.Module, names: Sequence[str], rank: int, alpha: float, *, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every parameter frozen and each named ``nn.Linear`` wrapped in a :class:`LoRALinear`."""
    if isinstance(names, str) or not names:
        raise ValueError(f"names must be a non-empty list of Linear layer names, got {names!r}")
    net = copy.deepcopy(model)
    net.requires_grad_(False)
    torch.manual_seed(seed)  # the adapters' A matrices
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        layer = getattr(parent, child, None)
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"{name!r} is not an nn.Linear of {type(model).__name__} (it is {type(layer).__name__})")
        setattr(parent, child, LoRALinear(layer, rank, alpha))
    return net


def merge_lora(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`LoRALinear` replaced by its merged ``nn.Linear``."""
    net = copy.deepcopy(model)
    for name, module in list(net.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name) if parent_name else net, child, module.merged())
    return net


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a LoRA task ships beside the frozen model: every trainable tensor (adapters and anything unfrozen)."""
    return {name: p.detach().cpu() for name, p in model.named_parameters() if p.requires_grad}
