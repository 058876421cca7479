"""Plumbing for transfer experiments: class splits, label budgets, freezing blocks, counting what trains.

Use it to set up a source → target experiment (pre-train on some classes, transfer to others) and to
measure what a transfer technique costs. The techniques themselves (linear probe, fine-tuning, LoRA) are
written out in notebook 12; this module only holds the bookkeeping they share:

    source = select_classes(cifar_train, SOURCE_CLASSES)      # labels relabelled to 0..4
    few = label_budget(select_classes(cifar_train, TARGET_CLASSES), per_class=50, seed=0)
    freeze_first(model, 2)                                     # blocks 0 and 1 stop training
    count_trainable(model), optimizer_state_bytes(optimizer)

``build_model("transfer_cnn")`` is the course's 5-class CIFAR CNN that the cached source baseline
(``baselines.BASELINES["cnn_cifar5_source"]``) is built from.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .data import ImageData, stratified_indices
from .models import StudentCNN

SOURCE_CLASSES = (0, 1, 2, 3, 4)  # CIFAR-10: airplane, automobile, bird, cat, deer
TARGET_CLASSES = (5, 6, 7, 8, 9)  # CIFAR-10: dog, frog, horse, ship, truck
TRANSFER_WIDTHS = (16, 32, 96)  # a wider last block than the distillation student: LoRA pays off on wide layers


def build_model(name: str) -> nn.Module:
    """A freshly initialised transfer model: ``'transfer_cnn'`` is a 5-class StudentCNN with widths 16/32/96."""
    if name != "transfer_cnn":
        raise ValueError(f"unknown transfer model {name!r}; expected 'transfer_cnn'")
    return StudentCNN(num_classes=len(SOURCE_CLASSES), widths=TRANSFER_WIDTHS)


def select_classes(data: ImageData, classes: Sequence[int]) -> ImageData:
    """The images of ``classes`` only, relabelled 0..len(classes)-1 in the order given."""
    classes = list(classes)
    if not classes:
        raise ValueError("classes is empty; pass the original class indices to keep, e.g. (5, 6, 7, 8, 9)")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes has duplicates: {classes}")
    unknown = [c for c in classes if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < len(data.classes)]
    if unknown:
        raise ValueError(f"unknown classes {unknown} for {data.name!r}: expected ints in [0, {len(data.classes)})")
    relabel = torch.full((len(data.classes),), -1, dtype=torch.long)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    keep = torch.nonzero(relabel[data.labels] >= 0).flatten()
    images, labels = data.images[keep], relabel[data.labels[keep]]
    return ImageData(data.name, images, labels, tuple(data.classes[c] for c in classes), data.mean, data.std)


def label_budget(data: ImageData, per_class: int | None, seed: int = 0) -> ImageData:
    """``per_class`` labelled images of every class drawn with ``seed`` (``None``: all of them)."""
    if per_class is None:
        return data
    if not isinstance(per_class, int) or isinstance(per_class, bool) or per_class <= 0:
        raise ValueError(f"per_class must be a positive int or None (all labels), got {per_class!r}")
    counts = torch.bincount(data.labels, minlength=len(data.classes))
    short = {data.classes[c]: int(n) for c, n in enumerate(counts) if n < per_class}
    if short:
        raise ValueError(f"a budget of {per_class} labels per class is larger than these classes hold: {short}")
    return data.subset(stratified_indices(data.labels, per_class, seed))


def blocks(model: nn.Module) -> list[nn.Module]:
    """The model's blocks from input to output, the head last: what ``freeze_first`` counts.

    StudentCNN: each conv + BatchNorm (+ pooling) block, then ``fc``. CifarResNet: the stem, each residual
    block, then ``fc``. Any other model: its direct children that hold parameters, in order.
    """
    if isinstance(model, StudentCNN):
        starts = [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)] + [len(model.features)]
        return [model.features[a:b] for a, b in zip(starts, starts[1:], strict=False)] + [model.fc]
    if hasattr(model, "layers") and hasattr(model, "conv1") and hasattr(model, "fc"):  # CifarResNet
        return [nn.Sequential(model.conv1, model.bn1), *model.layers, model.fc]
    return [child for child in model.children() if any(True for _ in child.parameters())]


def freeze_first(model: nn.Module, k: int) -> list[nn.Module]:
    """Stop training the first ``k`` blocks (``requires_grad=False``); returns the frozen blocks.

    ``k = 0`` freezes nothing (full fine-tuning); ``k = len(blocks(model)) - 1`` leaves only the head (a
    linear probe). Frozen BatchNorm layers still update their running statistics in train mode: call
    ``.eval()`` on the returned blocks after ``model.train()`` to keep them exactly as the source had them.
    """
    parts = blocks(model)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= len(parts):
        raise ValueError(f"k must be an int in [0, {len(parts)}] (the model has {len(parts)} blocks), got {k!r}")
    for part in parts[:k]:
        for p in part.parameters():
            p.requires_grad_(False)
    return parts[:k]


def count_trainable(model: nn.Module) -> int:
    """Number of parameters that receive gradients (``requires_grad=True``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def trainable_fraction(model: nn.Module) -> float:
    """Trainable parameters over all parameters of ``model`` (a fraction in [0, 1])."""
    total = sum(p.numel() for p in model.parameters())
    if total == 0:
        raise ValueError("the model has no parameters")
    return count_trainable(model) / total


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor the optimizer keeps per parameter (Adam: two moments and a step counter).

    The state exists only after the first ``step()``; before it this returns 0.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    return sum(value.numel() * value.element_size() for state in optimizer.state.values()
               for value in state.values() if torch.is_tensor(value))  # fmt: skip
