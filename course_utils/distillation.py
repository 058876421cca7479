"""Plumbing for distillation: record named layers' outputs, remember a frozen teacher's outputs, hold out a split.

Feature distillation (FitNets hints, attention transfer) compares a student's intermediate activations
with a teacher's. Rather than rewriting each model's ``forward`` to return them, register forward
hooks on the layers by name, run the ordinary forward, and read the captured outputs:

    with FeatureRecorder(student, ["features.2", "features.6"]) as recorded:
        logits = student(x)
    maps = [recorded[name] for name in ("features.2", "features.6")]

Captured tensors keep their autograd graph (so a loss on them trains the student); run the teacher
under ``torch.no_grad()`` to capture its features without one. Hooks are removed when the block
exits, even on an error, so a model never keeps stray hooks.

A frozen teacher gives the same output for the same input, so when the batches are not augmented it
need not run again in every epoch: ``TeacherMemo(teacher)`` is called like the teacher inside the
step and runs it only on examples it has not seen (keyed by a hash of each example's exact bytes, so
an augmented crop is a new example and is computed, never confused with its source image).
``holdout_split`` keeps a stratified validation split out of the training images, for choosing
hyper-parameters (α, T, β) without touching the test set.

``kd_loss`` is Hinton et al.'s loss as notebook 03 writes it out and checks against ``F.kl_div``; ``kd_step`` makes it a
``step_loss`` for ``training.fit`` (notebook 13 distils with it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from .data import ImageData, stratified_indices


class FeatureRecorder(Mapping[str, torch.Tensor]):
    """A context manager that records the outputs of ``model``'s submodules named in ``names``.

    Inside the ``with`` block every forward pass overwrites the recorded tensors; the recorder is a
    read-only mapping ``name -> tensor`` of the latest forward. Reading a layer that has not run yet
    raises a ``KeyError`` naming it.
    """

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        if isinstance(names, str):
            raise TypeError(f"names must be a sequence of layer names, not the single string {names!r}")
        if not names:
            raise ValueError("names is empty; pass the layers to record, e.g. ['layers.2']")
        if len(set(names)) != len(names):
            raise ValueError(f"names has duplicates: {list(names)}")
        modules = dict(model.named_modules())
        unknown = [name for name in names if name not in modules]
        if unknown:
            known = [n for n in modules if n][:20]
            raise KeyError(f"model {type(model).__name__} has no submodule(s) {unknown}; some of its names: {known}")
        self.model, self.names = model, list(names)
        self._modules = {name: modules[name] for name in self.names}
        self._outputs: dict[str, torch.Tensor] = {}
        self._handles: list[RemovableHandle] = []

    def _hook(self, name: str) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returned {type(output).__name__}, expected a tensor")
            self._outputs[name] = output

        return record

    def __enter__(self) -> FeatureRecorder:
        if self._handles:
            raise RuntimeError("this FeatureRecorder is already active; use a new one or exit the first block")
        self._outputs.clear()
        self._handles = [module.register_forward_hook(self._hook(name)) for name, module in self._modules.items()]
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def active(self) -> bool:
        """Whether the hooks are currently registered."""
        return bool(self._handles)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._outputs:
            state = "has not run since the block began" if name in self._modules else "is not recorded"
            raise KeyError(f"layer {name!r} {state}; recorded layers: {self.names}")
        return self._outputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(name for name in self.names if name in self._outputs)

    def __len__(self) -> int:
        return sum(name in self._outputs for name in self.names)

    def features(self) -> list[torch.Tensor]:
        """The recorded outputs in the order of ``names`` (all must have run)."""
        return [self[name] for name in self.names]


TeacherOutput = torch.Tensor | list[torch.Tensor]


class TeacherMemo:
    """Call ``compute`` (a frozen teacher, or a function of it) once per distinct input example, then remember.

    ``compute(x)`` must return a tensor, or a list/tuple of tensors, with one row per example of ``x``, and
    each row must depend only on its own example (a model in eval mode, under ``no_grad``): then the memo
    returns what ``compute`` would. Examples are keyed by a hash of their exact bytes (and shape), so a
    changed input is computed afresh. At most ``max_examples`` are stored; beyond that the rest are
    computed on every call. ``hits`` and ``misses`` count examples.
    """

    def __init__(self, compute: Callable[[torch.Tensor], TeacherOutput], max_examples: int = 100_000) -> None:
        if not callable(compute):
            raise TypeError(f"compute must be callable (a model or a function of a batch), got {type(compute).__name__}")
        if not isinstance(max_examples, int) or max_examples < 0:
            raise ValueError(f"max_examples must be a non-negative int, got {max_examples!r}")
        self.compute, self.max_examples = compute, max_examples
        self._rows: dict[bytes, tuple[torch.Tensor, ...]] = {}
        self._as_list: bool | None = None
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    @staticmethod
    def keys(x: torch.Tensor) -> list[bytes]:
        """One key per example of ``x``: a hash of its exact bytes, its shape and dtype."""
        rows = x.detach().to("cpu").contiguous()
        meta = f"{tuple(rows.shape[1:])}{rows.dtype}".encode()
        flat = rows.reshape(rows.shape[0], -1).view(torch.uint8).numpy()
        return [hashlib.blake2b(row.tobytes() + meta, digest_size=16).digest() for row in flat]

    def _computed(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            out = self.compute(x)
        as_list = not isinstance(out, torch.Tensor)
        outputs = tuple(out) if as_list else (out,)
        shapes = [tuple(o.shape) if isinstance(o, torch.Tensor) else type(o).__name__ for o in outputs]
        if not outputs or any(not isinstance(s, tuple) or not s or s[0] != x.shape[0] for s in shapes):
            raise ValueError(f"compute must return tensors with one row per example ({x.shape[0]}), got {shapes}")
        if self._as_list is None:
            self._as_list = as_list
        return outputs

    def __call__(self, x: torch.Tensor) -> TeacherOutput:
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty batch, got shape {tuple(x.shape)}")
        keys = self.keys(x)
        missing = [i for i, key in enumerate(keys) if key not in self._rows]
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        fresh: dict[int, tuple[torch.Tensor, ...]] = {}
        if missing:
            outputs = self._computed(x[missing])
            for j, i in enumerate(missing):
                fresh[i] = tuple(o[j].detach().clone() for o in outputs)
                if len(self._rows) < self.max_examples:
                    self._rows.setdefault(keys[i], fresh[i])
        rows = [fresh[i] if i in fresh else self._rows[key] for i, key in enumerate(keys)]
        stacked = [torch.stack(column) for column in zip(*rows, strict=True)]
        return stacked if self._as_list else stacked[0]


def holdout_split(data: ImageData, per_class: int, seed: int = 0) -> tuple[ImageData, ImageData]:
    """``(rest, held_out)``: a seeded stratified ``per_class`` images of every class held out, and the others."""
    held = stratified_indices(data.labels, per_class, seed)
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[held] = False
    return data.subset(torch.nonzero(keep).flatten()), data.subset(held)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:  # fmt: skip
    """Hinton et al. (2015): ``alpha · T² · KL(teacher_T ‖ student_T) + (1 − alpha) · cross-entropy``, batch mean."""
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"need temperature > 0 and alpha in [0, 1], got T={temperature!r}, alpha={alpha!r}")
    log_p_teacher = torch.log_softmax(teacher_logits / temperature, dim=1)
    log_p_student = torch.log_softmax(student_logits / temperature, dim=1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(1).mean()
    return alpha * temperature**2 * kl + (1 - alpha) * F.cross_entropy(student_logits, labels)


def kd_step(teacher: Callable[[torch.Tensor], torch.Tensor], temperature: float, alpha: float
            ) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """A ``step_loss`` for ``training.fit``: :func:`kd_loss` against ``teacher``'s logits for this very batch.

    ``teacher`` is a frozen model in eval mode, or a :class:`TeacherMemo` of one (it runs under ``no_grad``).
    """

    def step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            teacher_logits = teacher(x)
        logits = model(x)
        return kd_loss(logits, teacher_logits, y, temperature, alpha), logits

    return step
