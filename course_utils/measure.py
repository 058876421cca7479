"""Honest measurements: bytes of the file a user ships, latency (warm-up + median), interleaved ratios.

Before timing eager PyTorch on Linux call ``stabilise_allocator()``: with glibc's dynamic mmap
threshold, the same ResNet-20 batch-64 forward can take about twice as long in one process as in another
(notebook 05 measures it on your machine); fixing the mmap and trim thresholds removes that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_ALLOCATOR_STABILISED = False


def stabilise_allocator(threshold_bytes: int = 1 << 30) -> bool:
    """Fix glibc's mmap and trim thresholds (``mallopt``) so latency does not depend on the process.

    Returns True when applied (Linux with glibc), False elsewhere (macOS, Windows, musl).
    """
    global _ALLOCATOR_STABILISED
    if threshold_bytes <= 0:
        raise ValueError(f"threshold_bytes must be positive, got {threshold_bytes}")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, threshold_bytes) == 1 and mallopt(_M_TRIM_THRESHOLD, threshold_bytes) == 1
    _ALLOCATOR_STABILISED = _ALLOCATOR_STABILISED or ok
    return ok


def allocator_stabilised() -> bool:
    """Whether ``stabilise_allocator`` succeeded in this process."""
    return _ALLOCATOR_STABILISED


def timing_threads() -> int:
    """Threads to time with: torch's setting on a quiet machine, 1 when other processes already load every core.

    On an oversubscribed CPU, multi-threaded kernels wait for each other's descheduled threads (measured on
    the course's 2-core machine under load: a fine-tune took 0.6 s with 1 thread and 16 s with 2), so a
    latency ratio would measure the scheduler, not the kernels. Record the value next to every timing.
    """
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return 1 if load > (os.cpu_count() or 1) + 1 else torch.get_num_threads()


def with_threads(threads: int, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` wrapped to run with ``threads`` intra-op threads: for interleaving 1 vs N threads in one comparison.

    The thread setting stays changed after a call; restore it with ``torch.set_num_threads`` when done.
    """
    if not isinstance(threads, int) or threads <= 0:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")

    def run() -> object:
        torch.set_num_threads(threads)
        return fn()

    return run


def serialized_bytes(obj: nn.Module | dict) -> int:
    """Bytes of ``torch.save`` of a model's state dict (or of any dict), as a user would ship it."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise TypeError(f"expected an nn.Module or a state dict, got {type(obj).__name__}")
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer().nbytes


def file_bytes(path: Path | str) -> int:
    """Size of a file on disk in bytes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    return path.stat().st_size


def _sync(device: torch.device | str | None) -> None:
    """Wait for the work queued on ``device`` (a CUDA or MPS device, as a ``torch.device`` or a string).

    ``None`` (the caller named no device): wait for CUDA if this process has used it, so a timer that was not
    told the device still counts the kernels it queued. The CPU needs no waiting.
    """
    if device is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass
class LatencyStats:
    """Milliseconds per call of one variant."""

    times_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    def quantile_ms(self, q: float) -> float:
        """The q-quantile (0 ≤ q ≤ 1) of the measured times."""
        return torch.tensor(self.times_ms).quantile(q).item()


def _check_counts(warmup: int, repeats: int) -> None:
    if warmup < 0 or repeats <= 0:
        raise ValueError(f"need warmup ≥ 0 and repeats > 0, got warmup={warmup}, repeats={repeats}")


def time_fn(fn: Callable[[], object], *, warmup: int = 5, repeats: int = 30,
            device: torch.device | str | None = None) -> LatencyStats:  # fmt: skip
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (synchronised on ``device``)."""
    return compare_latency({"fn": fn}, warmup=warmup, repeats=repeats, device=device).stats["fn"]


@dataclass
class LatencyComparison:
    """Interleaved timings of several variants measured in one run."""

    stats: dict[str, LatencyStats]

    def median_ms(self, name: str) -> float:
        return self._get(name).median_ms

    def speedup(self, baseline: str, variant: str) -> float:
        """How many times faster ``variant`` is than ``baseline`` (ratio of medians)."""
        return self._get(baseline).median_ms / self._get(variant).median_ms

    def _get(self, name: str) -> LatencyStats:
        if name not in self.stats:
            raise KeyError(f"no variant {name!r}; measured: {sorted(self.stats)}")
        return self.stats[name]

    def table(self, baseline: str) -> list[dict[str, float | str]]:
        """Rows ``{variant, median_ms, p10_ms, p90_ms, speedup}`` sorted fastest first."""
        rows = [{"variant": n, "median_ms": s.median_ms, "p10_ms": s.quantile_ms(0.1), "p90_ms": s.quantile_ms(0.9),
                 "speedup": self.speedup(baseline, n)} for n, s in self.stats.items()]  # fmt: skip
        return sorted(rows, key=lambda r: r["median_ms"])


def compare_latency(
    variants: dict[str, Callable[[], object]],
    *,
    warmup: int = 5,
    repeats: int = 30,
    device: torch.device | str | None = None,
) -> LatencyComparison:
    """Time several zero-argument callables interleaved (A B C, then C B A, ...) in one run.

    Interleaving exposes every variant to the same machine state (turbo, other processes), so the
    ratio of medians is fair even when absolute times drift. Pass the ``device`` the callables run on: a
    GPU is synchronised before and after each timed call, so its queued kernels are counted (``None``
    synchronises CUDA only where this process has used it).
    """
    _check_counts(warmup, repeats)
    if not variants:
        raise ValueError("variants is empty; pass {'name': callable, ...}")
    for name, fn in variants.items():
        if not callable(fn):
            raise TypeError(f"variant {name!r} is not callable")
    names = list(variants)
    stats = {name: LatencyStats() for name in names}
    for _ in range(warmup):
        for name in names:
            variants[name]()
    _sync(device)
    for i in range(repeats):
        for name in names if i % 2 == 0 else reversed(names):
            _sync(device)
            start = time.perf_counter()
            variants[name]()
            _sync(device)
            stats[name].times_ms.append((time.perf_counter() - start) * 1e3)
    return LatencyComparison(stats)


def model_latency(model: nn.Module, example: torch.Tensor, *, warmup: int = 5, repeats: int = 30) -> LatencyStats:
    """Inference latency of ``model(example)`` under ``torch.inference_mode``."""
    device = example.device

    def run() -> None:
        with torch.inference_mode():
            model(example)

    return time_fn(run, warmup=warmup, repeats=repeats, device=device)


def compare_models(
    models: dict[str, nn.Module], example: torch.Tensor, *, warmup: int = 5, repeats: int = 30
) -> LatencyComparison:
    """``compare_latency`` for models called on the same input under ``torch.inference_mode``."""

    def runner(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                model(example)

        return run

    return compare_latency({n: runner(m) for n, m in models.items()}, warmup=warmup, repeats=repeats,
                           device=example.device)  # fmt: skip
