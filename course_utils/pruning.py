"""Masks applied to a model's weights: the plumbing of pruning notebooks (the masks are computed in the notebook).

Notebook 01 teaches how magnitude masks are chosen; later notebooks (04) call :func:`apply_masks` from here.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def prunable_layers(model: nn.Module) -> list[str]:
    """Names of the model's ``nn.Conv2d`` and ``nn.Linear`` layers: the weights pruning acts on."""
    return [name for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))]


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor], *, inplace: bool = False) -> nn.Module:
    """``model`` (or a copy) with each named layer's weight multiplied by its 0/1 mask; zeros stay stored densely."""
    target = model if inplace else copy.deepcopy(model)
    with torch.no_grad():
        for name, mask in masks.items():
            try:
                weight = target.get_submodule(name).weight
            except AttributeError as error:
                raise KeyError(f"mask {name!r} names no layer with a weight; layers: {prunable_layers(model)}") from error
            if mask.shape != weight.shape:
                raise ValueError(f"mask {name!r} has shape {tuple(mask.shape)}, the weight {tuple(weight.shape)}")
            weight.mul_(mask.to(weight.device, weight.dtype))
    return target
