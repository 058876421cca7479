"""Structured pruning of a ViT's attention heads and MLP neurons by importance (Michel et al. 2019), for notebook 13.

Michel, Levy and Neubig ("Are Sixteen Heads Really Better than One?", 2019) give every head h a gate ξ_h that
multiplies its output and score the head by the expected size of the loss's gradient with respect to the gate,

    I_h = E_x | ∂L(x) / ∂ξ_h |  at ξ = 1,

normalised per layer (L2) before heads of all layers are ranked together. At ξ = 1 the gradient equals
Σ (head output ⊙ its gradient), so no gate needs to be inserted: a hook reads the heads' concatenated output where it
enters the output projection. The same score ranks the MLP's hidden neurons (their GELU output entering the second
Linear). Then the model is *shrunk*, not masked: the kept heads' rows of the packed ``qkv`` projection and columns
of ``proj``, the kept neurons' rows and columns of the MLP, so the file and the matrix products really get smaller.

    heads, neurons = importance(model, data, device=device)
    keep_heads = keep_top(heads, fraction=0.5)          # per layer: the indices of the heads kept
    keep_neurons = keep_top(neurons, fraction=0.5)
    small = shrink(model, keep_heads, keep_neurons)     # a copy; the original is untouched

Works on :class:`course_utils.vit.TinyViT` (any width, depth, heads); a shrunk attention keeps ``head_dim`` and
sets ``heads`` and its inner width ``dim`` to what is left, which its forward reads.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageData
from .vit import TinyViT


def _check(model: nn.Module) -> TinyViT:
    if not isinstance(model, TinyViT):
        raise TypeError(f"expected a course_utils.vit.TinyViT, got {type(model).__name__}")
    return model


def importance(model: nn.Module, data: ImageData, *, batch_size: int = 250, device: torch.device | str = "cpu",
               normalise: bool = True) -> tuple[list[torch.Tensor], list[torch.Tensor]]:  # fmt: skip
    """``(heads, neurons)``: per layer, the mean over ``data`` of |∂ loss / ∂ gate| of every head and MLP neuron.

    ``normalise`` divides each layer's scores by their L2 norm (Michel et al., section 4.1), so layers compare.
    The model's weights and mode are left as they were.
    """
    net = _check(model)
    was_training = net.training
    net.eval()
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            args[0].retain_grad()
            captured[name] = args[0]

        return hook

    handles = []
    for i, block in enumerate(net.blocks):
        handles.append(block.attn.proj.register_forward_pre_hook(keep(f"heads{i}")))
        handles.append(block.mlp[2].register_forward_pre_hook(keep(f"mlp{i}")))
    heads = [torch.zeros(b.attn.heads) for b in net.blocks]
    neurons = [torch.zeros(b.mlp[0].out_features) for b in net.blocks]
    try:
        x_all, y_all = data.tensors(device)
        for start in range(0, len(y_all), batch_size):
            x, y = x_all[start : start + batch_size], y_all[start : start + batch_size]
            with torch.enable_grad():
                # the summed loss: each example's own gradient, so |.| is taken per example as the expectation asks
                loss = F.cross_entropy(net(x), y, reduction="sum")
                net.zero_grad(set_to_none=True)
                loss.backward()
            for i, block in enumerate(net.blocks):
                a = captured[f"heads{i}"]
                per_head = (a * a.grad).view(*a.shape[:2], block.attn.heads, block.attn.head_dim).sum(dim=(1, 3))
                heads[i] += per_head.abs().sum(0).detach().cpu()
                m = captured[f"mlp{i}"]
                neurons[i] += (m * m.grad).sum(1).abs().sum(0).detach().cpu()
    finally:
        for handle in handles:
            handle.remove()
        net.zero_grad(set_to_none=True)
        net.train(was_training)
    heads = [h / len(data) for h in heads]
    neurons = [n / len(data) for n in neurons]
    if normalise:
        heads = [h / h.norm().clamp_min(1e-12) for h in heads]
        neurons = [n / n.norm().clamp_min(1e-12) for n in neurons]
    return heads, neurons


def keep_top(scores: Sequence[torch.Tensor], fraction: float, *, min_per_layer: int = 1) -> list[torch.Tensor]:
    """Per layer, the sorted indices kept when ``fraction`` of all units (ranked globally) is removed.

    Units are ranked across layers together (the scores should be normalised per layer); every layer keeps at least
    ``min_per_layer`` of its best units, so no layer is cut off entirely.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1): the share of units removed, got {fraction!r}")
    if not scores:
        raise ValueError("scores is empty: pass one score tensor per layer")
    flat = torch.cat([s.flatten() for s in scores])
    layer_of = torch.cat([torch.full((s.numel(),), i) for i, s in enumerate(scores)])
    index_in = torch.cat([torch.arange(s.numel()) for s in scores])
    n_remove = int(round(fraction * flat.numel()))
    order = torch.argsort(flat, stable=True)  # least important first
    removed = torch.zeros(flat.numel(), dtype=torch.bool)
    left = [s.numel() for s in scores]
    for j in order.tolist():
        if n_remove == 0:
            break
        if left[int(layer_of[j])] > min_per_layer:
            removed[j] = True
            left[int(layer_of[j])] -= 1
            n_remove -= 1
    return [index_in[(layer_of == i) & ~removed].sort().values for i in range(len(scores))]


def _rows(linear: nn.Linear, rows: torch.Tensor) -> nn.Linear:
    new = nn.Linear(linear.in_features, len(rows), bias=linear.bias is not None)
    with torch.no_grad():
        new.weight.copy_(linear.weight[rows])
        if linear.bias is not None:
            new.bias.copy_(linear.bias[rows])
    return new.to(linear.weight.device)


def _columns(linear: nn.Linear, columns: torch.Tensor) -> nn.Linear:
    new = nn.Linear(len(columns), linear.out_features, bias=linear.bias is not None)
    with torch.no_grad():
        new.weight.copy_(linear.weight[:, columns])
        if linear.bias is not None:
            new.bias.copy_(linear.bias)
    return new.to(linear.weight.device)


def shrink(model: nn.Module, keep_heads: Sequence[torch.Tensor], keep_neurons: Sequence[torch.Tensor]) -> TinyViT:
    """A copy of ``model`` with only the kept heads (per layer) and MLP neurons: smaller matrices, same outputs as
    the original with the other heads' and neurons' outputs set to zero."""
    net = copy.deepcopy(_check(model))
    if len(keep_heads) != len(net.blocks) or len(keep_neurons) != len(net.blocks):
        raise ValueError(f"one index tensor per block ({len(net.blocks)}), got {len(keep_heads)} and {len(keep_neurons)}")
    for i, block in enumerate(net.blocks):
        attn, hd = block.attn, block.attn.head_dim
        heads = torch.as_tensor(keep_heads[i], dtype=torch.long).cpu()
        if heads.numel() == 0 or heads.max() >= attn.heads or heads.min() < 0:
            raise ValueError(f"block {i}: keep_heads {heads.tolist()} must name some of its {attn.heads} heads")
        within = (heads[:, None] * hd + torch.arange(hd)).flatten()  # feature columns of the kept heads
        inner = attn.heads * hd
        rows = torch.cat([within, inner + within, 2 * inner + within])  # the same heads in q, k and v
        attn.qkv, attn.proj = _rows(attn.qkv, rows), _columns(attn.proj, within)
        attn.heads, attn.dim = len(heads), len(heads) * hd
        neurons = torch.as_tensor(keep_neurons[i], dtype=torch.long).cpu()
        if neurons.numel() == 0 or neurons.max() >= block.mlp[0].out_features or neurons.min() < 0:
            raise ValueError(f"block {i}: keep_neurons must name some of its {block.mlp[0].out_features} neurons")
        block.mlp[0], block.mlp[2] = _rows(block.mlp[0], neurons), _columns(block.mlp[2], neurons)
    return net


def zero_units(model: nn.Module, keep_heads: Sequence[torch.Tensor], keep_neurons: Sequence[torch.Tensor]) -> TinyViT:
    """A copy of ``model`` of the same shape whose removed heads and neurons output zero: what :func:`shrink` must equal.

    It zeroes the removed heads' columns of ``proj`` and the removed neurons' rows of the first MLP layer (and their
    bias: GELU(0) = 0), so it is an independent way to compute the same function.
    """
    net = copy.deepcopy(_check(model))
    with torch.no_grad():
        for i, block in enumerate(net.blocks):
            hd = block.attn.head_dim
            gone = torch.ones(block.attn.heads, dtype=torch.bool)
            gone[torch.as_tensor(keep_heads[i], dtype=torch.long)] = False
            for h in torch.nonzero(gone).flatten().tolist():
                block.attn.proj.weight[:, h * hd : (h + 1) * hd] = 0
            off = torch.ones(block.mlp[0].out_features, dtype=torch.bool)
            off[torch.as_tensor(keep_neurons[i], dtype=torch.long)] = False
            block.mlp[0].weight[off] = 0
            block.mlp[0].bias[off] = 0
    return net
