"""Benchmark plumbing for profiling notebooks: fresh-process timings, timing after a disturbance, phased
comparisons, this machine's matmul peak and memory bandwidth, and per-layer FLOPs and bytes for a roofline.

Use it when a latency figure depends on the *process* (allocator settings, other runtimes' threads) rather
than on the model: ``subprocess_timings`` times a snippet in fresh interpreters with and without environment
variables; ``subprocess_phase_timings`` times it in fresh interpreters before and after an in-process change
that cannot be undone (e.g. ``measure.stabilise_allocator()``), paired within each process; ``time_after``
times a call right after another one (e.g. an ONNX Runtime session whose threads keep spinning);
``compare_phased`` times variants in separate blocks so they cannot disturb each other.
Everything returns ``course_utils.measure`` objects or plain numbers. Pass ``device`` to time GPU work:
the timers then :func:`synchronize` before each timed call and after it, so queued kernels are counted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from .measure import LatencyComparison, LatencyStats, _sync

ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
"""glibc tunables equivalent to ``measure.stabilise_allocator()``, set before a process starts."""

RESULT_PREFIX = "MEDIAN_MS="
PHASE_PREFIX = "PHASE_MS "


def synchronize(device: torch.device | str | None) -> None:
    """Wait until the work queued on a CUDA or MPS ``device`` has finished (nothing for the CPU).

    ``None``: CUDA where this process has used it (as :mod:`course_utils.measure`'s timers do).
    """
    _sync(device)


def _check_counts(warmup: int, repeats: int) -> None:
    if warmup < 0 or repeats <= 0:
        raise ValueError(f"need warmup ≥ 0 and repeats > 0, got warmup={warmup}, repeats={repeats}")


def timing_script(setup: str, call: str, *, warmup: int = 5, repeats: int = 20) -> str:
    """Python source that runs ``setup`` once, times ``call`` and prints ``MEDIAN_MS=<median ms>``.

    ``setup`` and ``call`` are statements (``call`` may use names defined in ``setup``).
    """
    _check_counts(warmup, repeats)
    if not call.strip():
        raise ValueError("call is empty; pass the statement to time, e.g. 'model(x)'")
    return (
        "import statistics, time\n"
        f"{setup}\n"
        f"for _ in range({warmup}):\n    {call}\n"
        "_times = []\n"
        f"for _ in range({repeats}):\n"
        f"    _start = time.perf_counter()\n    {call}\n"
        "    _times.append((time.perf_counter() - _start) * 1e3)\n"
        f"print('{RESULT_PREFIX}' + repr(statistics.median(_times)))\n"
    )


def phased_timing_script(setup: str, call: str, phases: Mapping[str, str], *, warmup: int = 5,
                         repeats: int = 20) -> str:  # fmt: skip
    """Python source that runs ``setup`` once, then for each phase in order runs its statement, warms up, times
    ``call`` and prints ``PHASE_MS <name>=<median ms>``.

    For a change a process cannot undo (``measure.stabilise_allocator()``): every phase is measured in the same
    fresh process, in the given order, so the phases are paired. A phase's statement may be empty.
    """
    _check_counts(warmup, repeats)
    if not call.strip():
        raise ValueError("call is empty; pass the statement to time, e.g. 'model(x)'")
    if not phases:
        raise ValueError("phases is empty; pass {'name': 'statement run before timing', ...}")
    for name in phases:
        if not name or "=" in name or "\n" in name:
            raise ValueError(f"phase name must be non-empty without '=' or a newline, got {name!r}")
    parts = ["import statistics, time", setup]
    for name, statement in phases.items():
        parts += [
            statement.strip() or "pass",
            f"for _ in range({warmup}):\n    {call}",
            "_times = []",
            f"for _ in range({repeats}):\n    _start = time.perf_counter()\n    {call}\n"
            "    _times.append((time.perf_counter() - _start) * 1e3)",
            f"print({PHASE_PREFIX!r} + {name!r} + '=' + repr(statistics.median(_times)))",
        ]  # fmt: skip
    return "\n".join(parts) + "\n"


def parse_phase_medians(stdout: str) -> dict[str, float]:
    """``{phase: median ms}`` from the ``PHASE_MS`` lines a ``phased_timing_script`` printed, in order."""
    medians = {}
    for line in stdout.splitlines():
        if line.startswith(PHASE_PREFIX):
            name, _, value = line[len(PHASE_PREFIX):].rpartition("=")
            medians[name] = float(value)
    if not medians:
        raise ValueError(f"no line starting with {PHASE_PREFIX!r} in the output: {stdout[-500:]!r}")
    return medians


def parse_median(stdout: str) -> float:
    """The median a ``timing_script`` printed (its last ``MEDIAN_MS=`` line)."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise ValueError(f"no line starting with {RESULT_PREFIX!r} in the output: {stdout[-500:]!r}")
    return float(lines[-1][len(RESULT_PREFIX):])


def run_script_output(script: str, env_extra: Mapping[str, str] | None = None, *, drop_env: tuple[str, ...] = (),
                      timeout_s: float = 300) -> str:  # fmt: skip
    """Run ``script`` in a fresh ``sys.executable`` and return what it printed (stdout).

    ``env_extra`` is added to this process's environment, ``drop_env`` names are removed from it.
    """
    env = {k: v for k, v in os.environ.items() if k not in drop_env}
    env.update(env_extra or {})
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"timing subprocess failed with exit code {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def run_script(script: str, env_extra: Mapping[str, str] | None = None, *, drop_env: tuple[str, ...] = (),
               timeout_s: float = 300) -> float:  # fmt: skip
    """Run a ``timing_script`` in a fresh ``sys.executable`` and return the median it printed."""
    return parse_median(run_script_output(script, env_extra, drop_env=drop_env, timeout_s=timeout_s))


def subprocess_timings(script: str, variants: Mapping[str, Mapping[str, str]], *, runs: int = 3,
                       drop_env: tuple[str, ...] = tuple(ALLOCATOR_ENV)) -> dict[str, list[float]]:  # fmt: skip
    """Per-process medians of ``script`` for each named environment, processes interleaved (A B, B A, ...).

    ``drop_env`` is removed from every child first, so a variable set in this process does not leak into
    the variant that should run without it.
    """
    if runs <= 0:
        raise ValueError(f"runs must be positive, got {runs}")
    if not variants:
        raise ValueError("variants is empty; pass {'name': {'ENV': 'value'}, ...}")
    names = list(variants)
    medians: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        for name in names if i % 2 == 0 else reversed(names):
            medians[name].append(run_script(script, variants[name], drop_env=drop_env))
    return medians


def subprocess_phase_timings(script: str, *, runs: int = 3, env_extra: Mapping[str, str] | None = None,
                             drop_env: tuple[str, ...] = tuple(ALLOCATOR_ENV)) -> dict[str, list[float]]:  # fmt: skip
    """Per-process medians of each phase of a ``phased_timing_script``, over ``runs`` fresh processes.

    ``drop_env`` is removed from every child first (by default the allocator variables, so the first phase
    really starts from glibc's defaults even when this process set them).
    """
    if runs <= 0:
        raise ValueError(f"runs must be positive, got {runs}")
    medians: dict[str, list[float]] = {}
    for _ in range(runs):
        phases = parse_phase_medians(run_script_output(script, env_extra, drop_env=drop_env))
        if medians and list(phases) != list(medians):
            raise RuntimeError(f"a process printed phases {list(phases)}, an earlier one {list(medians)}")
        for name, median in phases.items():
            medians.setdefault(name, []).append(median)
    return medians


def time_after(variants: Mapping[str, tuple[Callable[[], object] | None, Callable[[], object]]], *,
               warmup: int = 3, repeats: int = 20, device: torch.device | str | None = None) -> LatencyComparison:  # fmt: skip
    """Time ``fn`` right after an untimed ``before`` call, for each ``name: (before, fn)``, interleaved.

    This measures what a call costs when something else ran just before it (``before=None``: nothing).
    ``device``: synchronise it after ``before`` and after ``fn``, so each time is ``fn``'s work there.
    """
    _check_counts(warmup, repeats)
    if not variants:
        raise ValueError("variants is empty; pass {'name': (before or None, fn), ...}")
    names = list(variants)
    stats = {name: LatencyStats() for name in names}
    for i in range(warmup + repeats):
        for name in names if i % 2 == 0 else reversed(names):
            before, fn = variants[name]
            if before is not None:
                before()
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            elapsed = (time.perf_counter() - start) * 1e3
            if i >= warmup:
                stats[name].times_ms.append(elapsed)
    return LatencyComparison(stats)


def compare_phased(variants: Mapping[str, Callable[[], object]], *, phases: int = 2, warmup: int = 3,
                   repeats: int = 20, device: torch.device | str | None = None) -> LatencyComparison:  # fmt: skip
    """Time each variant in its own block of ``repeats`` calls (after ``warmup``), blocks ordered A B, B A, ...

    Use it for runtimes that disturb each other when interleaved call by call (PyTorch and ONNX Runtime):
    each block's warm-up absorbs what the previous block left running. ``repeats`` is per block.
    ``device``: synchronise it before and after each timed call.
    """
    _check_counts(warmup, repeats)
    if phases <= 0:
        raise ValueError(f"phases must be positive, got {phases}")
    if not variants:
        raise ValueError("variants is empty; pass {'name': callable, ...}")
    names = list(variants)
    stats = {name: LatencyStats() for name in names}
    for phase in range(phases):
        for name in names if phase % 2 == 0 else reversed(names):
            fn = variants[name]
            for _ in range(warmup):
                fn()
            for _ in range(repeats):
                synchronize(device)
                start = time.perf_counter()
                fn()
                synchronize(device)
                stats[name].times_ms.append((time.perf_counter() - start) * 1e3)
    return LatencyComparison(stats)


def matmul_flops(n: int) -> int:
    """Floating-point operations of an n×n by n×n matrix product (one multiply and one add per term)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    return 2 * n**3


@dataclass(frozen=True)
class LayerCost:
    """FLOPs and minimum bytes moved (input + weights + output, read or written once) of one layer call."""

    name: str
    kind: str
    flops: int
    bytes: int

    @property
    def intensity(self) -> float:
        """Arithmetic intensity in FLOP per byte."""
        return self.flops / self.bytes


def _layer_flops(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        per_output = (module.in_channels // module.groups) * kh * kw
        return 2 * output.numel() * per_output
    if isinstance(module, nn.Linear):
        return 2 * output.numel() * module.in_features
    raise TypeError(f"no FLOP formula for {type(module).__name__}")


def layer_costs(model: nn.Module, example: torch.Tensor) -> list[LayerCost]:
    """FLOPs (2 per multiply-add, as ``torch.utils.flop_counter`` counts) and minimum bytes of every
    ``nn.Conv2d`` and ``nn.Linear`` call in one forward pass on ``example``.

    The formula: a conv computes ``out_channels × H_out × W_out × batch`` outputs, each a dot product of
    length ``in_channels / groups × k_h × k_w``; a linear layer's dot products have length ``in_features``.
    """
    costs: list[LayerCost] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        weights = sum(p.numel() * p.element_size() for p in module.parameters(recurse=False))
        moved = args[0].numel() * args[0].element_size() + weights + output.numel() * output.element_size()
        costs.append(LayerCost(names[module], type(module).__name__, _layer_flops(module, args[0], output), moved))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not handles:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer to count")
    try:
        with torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return costs


def copy_bandwidth_gbs(numel: int = 1 << 24, *, repeats: int = 5, device: torch.device | str | None = None) -> float:
    """Memory bandwidth in GB/s of copying a float32 tensor (bytes read + bytes written over median time).

    The tensors live on ``device`` (``None``: the CPU), which is synchronised around each timed copy.
    """
    _check_counts(0, repeats)
    if numel <= 0:
        raise ValueError(f"numel must be positive, got {numel}")
    device = torch.device("cpu") if device is None else torch.device(device)
    src, dst = torch.ones(numel, device=device), torch.empty(numel, device=device)
    dst.copy_(src)
    times = []
    for _ in range(repeats):
        synchronize(dst.device)
        start = time.perf_counter()
        dst.copy_(src)
        synchronize(dst.device)
        times.append(time.perf_counter() - start)
    return 2 * 4 * numel / max(statistics.median(times), 1e-9) / 1e9
