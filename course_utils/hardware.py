"""What this CPU (or GPU) can do, so a hardware-dependent claim is asserted only where the hardware supports it.

Two machines of the same kind can differ: the course's CI has run on an Intel Xeon with AVX-512, VNNI and AMX
and on an AMD EPYC with AVX2 only (about 4× slower to train, and without the int8 dot-product instructions that
make int8 inference fast). ``cpu_summary()`` is recorded with every claims file; ``has(feature)`` decides whether
a claim such as "int8 is 1.5× faster" is asserted here or only shown as a figure with the reason.

The kernels PyTorch really uses can be capped below what the CPU has (``ATEN_CPU_CAPABILITY=avx2`` for ATen,
``ONEDNN_MAX_CPU_ISA=AVX2`` for oneDNN); both caps are honoured, so forcing the AVX2 paths on an Intel machine
also makes the claims behave as on an AVX2-only CPU.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

import torch

from . import cores

FEATURES = {
    "avx2": "AVX2 vector instructions",
    "avx512": "AVX-512 vector instructions",
    "vnni": "VNNI int8 dot-product instructions (AVX512-VNNI or AVX-VNNI)",
    "amx": "AMX matrix tiles (int8/bf16)",
    "bf16": "native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)",
    "multicore": "at least 2 physical CPU cores for torch (two hyperthreads of one core count once)",
    "cuda": "a CUDA GPU",
}
_AVX512_LEVELS = ("avx512", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_fp16",
                  "avx512_core_amx", "avx512_core_amx_fp16", "avx10_1_512", "avx10_1_512_amx")  # fmt: skip
_VNNI_LEVELS = ("avx2_vnni", "avx2_vnni_2", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_fp16",
                "avx512_core_amx", "avx512_core_amx_fp16", "avx10_1_512", "avx10_1_512_amx")  # fmt: skip


@functools.cache
def _cpu_flags() -> frozenset[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():  # macOS, Windows: no flag list; fall back to torch's capability below
        return frozenset()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _isa_cap_allows(levels: tuple[str, ...]) -> bool:
    """False when ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below every level in ``levels``."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()
    return not cap or cap == "all" or cap in levels


def cpu_features() -> dict[str, bool]:
    """Which of :data:`FEATURES` this process can use (CPU caps from the environment applied)."""
    flags = _cpu_flags()
    capability = torch.backends.cpu.get_cpu_capability().upper()  # "AVX512", "AVX2", "DEFAULT", ...
    aten_avx512 = capability.startswith("AVX512")
    avx512 = ("avx512f" in flags or (not flags and aten_avx512)) and aten_avx512 and _isa_cap_allows(_AVX512_LEVELS)
    vnni = bool({"avx512_vnni", "avx_vnni"} & flags) and _isa_cap_allows(_VNNI_LEVELS)
    if "avx512_vnni" in flags and "avx_vnni" not in flags:
        vnni = vnni and avx512
    amx = "amx_tile" in flags and avx512 and _isa_cap_allows(("avx512_core_amx", "avx512_core_amx_fp16", "avx10_1_512_amx"))
    bf16 = (("avx512_bf16" in flags and avx512) or amx) and _isa_cap_allows(_AVX512_LEVELS[3:])
    return {
        "avx2": "avx2" in flags or capability in {"AVX2", "AVX512"},
        "avx512": avx512,
        "vnni": vnni,
        "amx": amx,
        "bf16": bf16,
        "multicore": torch.get_num_threads() >= 2 and cores.physical_cores() >= 2,
        "cuda": torch.cuda.is_available(),
    }


def has(feature: str) -> bool:
    """Whether this process can use ``feature`` (one of :data:`FEATURES`)."""
    if feature not in FEATURES:
        raise ValueError(f"unknown hardware feature {feature!r}; expected one of {sorted(FEATURES)}")
    return cpu_features()[feature]


def describe(feature: str) -> str:
    """A reader-facing name of ``feature``, e.g. for 'not asserted: this CPU has no ...'."""
    if feature not in FEATURES:
        raise ValueError(f"unknown hardware feature {feature!r}; expected one of {sorted(FEATURES)}")
    return FEATURES[feature]


def cpu_summary() -> dict[str, object]:
    """The CPU model, torch's kernel capability, the usable features and any caps: recorded with every figure."""
    features = cpu_features()
    return {
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count() or 0,
        "features": sorted(name for name, present in features.items() if present and name != "multicore"),
        "isa_caps": {k: v for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if (v := os.environ.get(k))},
    }
