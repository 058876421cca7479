"""Plumbing for feature-based distillation: record what named layers of a model output during a forward pass.

Feature distillation (FitNets hints, attention transfer) compares a student's intermediate activations
with a teacher's. Rather than rewriting each model's ``forward`` to return them, register forward
hooks on the layers by name, run the ordinary forward, and read the captured outputs:

    with FeatureRecorder(student, ["features.2", "features.6"]) as recorded:
        logits = student(x)
    maps = [recorded[name] for name in ("features.2", "features.6")]

Captured tensors keep their autograd graph (so a loss on them trains the student); run the teacher
under ``torch.no_grad()`` to capture its features without one. Hooks are removed when the block
exits, even on an error, so a model never keeps stray hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


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


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1) of per-seed results; the spread is 0.0 for one value."""
    if not values:
        raise ValueError("values is empty; pass one result per seed")
    floats = [float(v) for v in values]
    mean = sum(floats) / len(floats)
    if len(floats) == 1:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in floats) / (len(floats) - 1)
    return mean, variance**0.5
