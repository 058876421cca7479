"""One training loop and one evaluation loop for every notebook: seeded, with progress bars.

``fit`` covers plain supervised training; pass ``step_loss`` to change what is minimised (e.g.
distillation) and ``after_step`` to act after each optimiser step (e.g. re-apply pruning masks).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import Batches, ImageData

StepLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class History:
    """Per-epoch figures of one ``fit`` call."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)


def cross_entropy_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Default ``step_loss``: cross-entropy on the model's logits."""
    logits = model(x)
    return F.cross_entropy(logits, y), logits


def _optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; expected 'adam' or 'sgd'")


def fit(
    model: nn.Module,
    train: ImageData,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 128,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "onecycle",
    augment: bool = False,
    val: ImageData | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    step_loss: StepLoss = cross_entropy_step,
    after_step: Callable[[nn.Module], None] | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place and return its History.

    ``schedule``: ``'onecycle'`` (warm-up then cosine decay, per step) or ``'constant'``.
    Same seed, data and arguments give the same weights (on CPU).
    """
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if schedule not in {"onecycle", "constant"}:
        raise ValueError(f"unknown schedule {schedule!r}; expected 'onecycle' or 'constant'")
    torch.manual_seed(seed)  # dropout and any other randomness inside the model
    model.to(device)
    batches = Batches(train, batch_size, shuffle=True, augment=augment, seed=seed, device=device)
    opt = _optimizer(model, optimizer, lr, weight_decay)
    scheduler = None
    if schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(batches), pct_start=0.25)
    history = History()
    for epoch in range(epochs):
        model.train()
        start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for x, y in bar:
            loss, logits = step_loss(model, x, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch + 1}; lower lr (now {lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()
            if after_step is not None:
                after_step(model)
            loss_sum += loss.item() * y.numel()
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        history.seconds.append(time.perf_counter() - start)
        history.train_loss.append(loss_sum / seen)
        history.train_accuracy.append(correct / seen)
        if val is not None:
            history.val_accuracy.append(evaluate(model, val, device=device))
    model.eval()
    return history


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer); the CPU for a model with neither."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def predict(model: nn.Module, data: ImageData, *, batch_size: int = 500,
            device: torch.device | str | None = None) -> torch.Tensor:  # fmt: skip
    """Logits of ``model`` for every image in ``data`` (in eval mode), returned on the CPU.

    ``device=None`` runs on the model's own device (:func:`model_device`). Another ``device`` runs there
    and moves the model back afterwards; its train/eval mode is restored too. The moves happen outside
    ``torch.inference_mode``, so the model's parameters stay ordinary tensors that can still be trained.
    """
    home = model_device(model)
    device = home if device is None else torch.device(device)
    was_training, moved = model.training, device != home
    model.eval()
    try:
        if moved:
            model.to(device)
        with torch.inference_mode():
            outputs = [model(x).float().cpu() for x, _ in Batches(data, batch_size, device=device)]
    finally:
        if moved:
            model.to(home)
        model.train(was_training)
    return torch.cat(outputs)


def evaluate(model: nn.Module, data: ImageData, *, batch_size: int = 500,
             device: torch.device | str | None = None) -> float:  # fmt: skip
    """Top-1 accuracy (a fraction in [0, 1]) of ``model`` on ``data``; ``device`` as in :func:`predict`."""
    logits = predict(model, data, batch_size=batch_size, device=device)
    return (logits.argmax(1) == data.labels).float().mean().item()
