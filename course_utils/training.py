"""One training loop and one evaluation loop for every notebook: seeded, with progress bars.

``fit`` covers plain supervised training; pass ``step_loss`` to change what is minimised (e.g.
distillation) and ``after_step`` to act after each optimiser step (e.g. re-apply pruning masks).
Pass ``resume_file`` to make a long run survive a crash, a kernel restart or Ctrl-C: it loses at most
the epoch it was in, and the resumed run ends with the very weights an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .atomic import write_bytes_atomic
from .data import Batches, ImageData
from .progress import bar as progress_bar
from .progress import log_line

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
    resume_file: Path | str | None = None,
    batches: Batches | None = None,
    evaluate_val: Callable[[nn.Module], float] | None = None,
) -> History:
    """Train ``model`` in place and return its History.

    ``schedule``: ``'onecycle'`` (warm-up then cosine decay, per step) or ``'constant'``.
    Same seed, data and arguments give the same weights (on CPU).

    ``resume_file``: after every epoch the whole training state (weights, optimiser, schedule, random
    generators, history) is written there atomically. A later call with the same file and the same
    arguments continues after the last finished epoch. After the last epoch the file holds the finished
    run (calling again returns at once with its weights and history): delete it once the model is saved.
    A file written by a call with other arguments raises ``ValueError`` and is left as it is.
    ``after_step`` and ``step_loss`` must not keep state of their own between epochs (it is not saved).

    ``batches`` replaces the mini-batches of ``train`` for data that is not an :class:`ImageData` (e.g. the
    paired batches of :func:`course_utils.fusion.fit_paired`): any iterable of ``(x, y)`` with ``len`` and a
    ``generator`` (its random state is saved for resuming); ``step_loss`` then says how ``x`` enters the model.
    ``evaluate_val``: how to score a model on the validation data after each epoch (default: :func:`evaluate`
    on ``val``).
    """
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if schedule not in {"onecycle", "constant"}:
        raise ValueError(f"unknown schedule {schedule!r}; expected 'onecycle' or 'constant'")
    torch.manual_seed(seed)  # dropout and any other randomness inside the model
    model.to(device)
    if batches is None:
        batches = Batches(train, batch_size, shuffle=True, augment=augment, seed=seed, device=device)
    if evaluate_val is None and val is not None:
        def evaluate_val(net: nn.Module) -> float:
            return evaluate(net, val, device=device)
    opt = _optimizer(model, optimizer, lr, weight_decay)
    scheduler = None
    if schedule == "onecycle":
        steps = epochs * len(batches)
        if steps in (1, 4):  # OneCycleLR runs its only step at lr 0 (1) or divides by zero (4: a 1-step warm-up)
            raise ValueError(f"schedule='onecycle' cannot schedule {epochs} epoch(s) × {len(batches)} batch(es) = "
                             f"{steps} step(s): use schedule='constant', another batch size or more epochs")
        scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.25)
    history, first_epoch = History(), 0
    if resume_file is not None:
        resume_file = Path(resume_file)
        run = _run_fingerprint(model, train, step_loss, after_step, epochs=epochs, lr=lr, batch_size=batch_size,
                               optimizer=optimizer, weight_decay=weight_decay, schedule=schedule, augment=augment,
                               seed=seed)  # fmt: skip
        if resume_file.exists():
            first_epoch = _restore(resume_file, run, model, opt, scheduler, batches, history)
            if progress:
                print(f"resuming after epoch {first_epoch}/{epochs} from {resume_file}", flush=True)
    for epoch in range(first_epoch, epochs):
        model.train()
        start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        bar = progress_bar(batches, desc=f"epoch {epoch + 1}/{epochs}", enabled=progress)
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
        if evaluate_val is not None:
            history.val_accuracy.append(evaluate_val(model))
        val_text = f", validation accuracy {history.val_accuracy[-1]:.4f}" if evaluate_val is not None else ""
        log_line(f"epoch {epoch + 1}/{epochs}: loss {history.train_loss[-1]:.4f}, train accuracy "
                 f"{history.train_accuracy[-1]:.4f}{val_text}, {history.seconds[-1]:.1f} s", enabled=progress)
        if resume_file is not None:
            _save_state(resume_file, run, epoch + 1, model, opt, scheduler, batches, history)
    model.eval()
    return history


def estimate_seconds(model: nn.Module, train: ImageData, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
                     optimizer: str = "adam", weight_decay: float = 0.0, augment: bool = False,
                     device: torch.device | str = "cpu", steps: int = 6) -> float:  # fmt: skip
    """Seconds that ``fit`` with these arguments would take here, from ``steps`` timed steps on a copy of ``model``.

    For printing the cost of a long run before it starts; ``model`` itself is not changed.
    """
    import copy

    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    probe = copy.deepcopy(model).to(device).train()
    opt = _optimizer(probe, optimizer, lr, weight_decay)
    batches = Batches(train, batch_size, shuffle=True, augment=augment, seed=0, device=device)
    timed, start = 0, 0.0
    for i, (x, y) in enumerate(batches):
        if i == 2:  # two warm-up steps (allocations, kernel choice) are not timed
            start = time.perf_counter()
        loss, _ = cross_entropy_step(probe, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # waits for an accelerator
        timed += i >= 2
        if timed == steps:
            break
    if timed == 0:
        return 0.0
    return (time.perf_counter() - start) / timed * len(batches) * epochs


def _run_fingerprint(model: nn.Module, train: Any, step_loss: StepLoss, after_step: Callable | None,
                     **arguments: Any) -> dict[str, Any]:  # fmt: skip
    """What a resumed run must share with the one that wrote the file: arguments, data and model shape."""
    def name(fn: Callable | None) -> str | None:
        return None if fn is None else getattr(fn, "__qualname__", type(fn).__qualname__)

    shapes = {key: list(t.shape) for key, t in model.state_dict().items()}
    labels = hashlib.sha256(train.labels.cpu().numpy().tobytes()).hexdigest()[:12]
    return {**arguments, "model": type(model).__name__, "shapes": shapes, "data": getattr(train, "name", ""),
            "images": len(train),
            "labels": labels, "step_loss": name(step_loss), "after_step": name(after_step)}


def _save_state(path: Path, run: dict[str, Any], epochs_done: int, model: nn.Module, opt: torch.optim.Optimizer,
                scheduler: Any, batches: Batches, history: History) -> None:  # fmt: skip
    state = {
        "run": run,
        "epochs_done": epochs_done,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "batches_rng": batches.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
        "mps_rng": torch.mps.get_rng_state() if torch.backends.mps.is_available() else None,
        "history": history.as_dict(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def _restore(path: Path, run: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer, scheduler: Any,
             batches: Batches, history: History) -> int:  # fmt: skip
    """Load the state saved at ``path`` into the objects of this run; the number of epochs already done."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise RuntimeError(f"resume file {path} is corrupt ({error}); it was left untouched: "
                           "delete it to train from the start") from error  # fmt: skip
    saved = state.get("run", {}) if isinstance(state, dict) else {}
    if saved != run:
        changed = sorted(k for k in run.keys() | saved.keys() if run.get(k) != saved.get(k))
        raise ValueError(f"resume file {path} was written by a run with other {', '.join(changed)}; it was left "
                         "untouched: delete it, or pass another resume_file, to train from the start")  # fmt: skip
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    batches.generator.set_state(state["batches_rng"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state["mps_rng"] is not None and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps_rng"])
    for name, values in state["history"].items():
        getattr(history, name).extend(values)
    return int(state["epochs_done"])


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
