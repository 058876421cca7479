"""Measure many variants of one model in one run: accuracy with its SE, file bytes, latency ratios (notebook 13).

A variant is anything that maps a batch of images to logits (an eager model, a quantized or compiled one, an ONNX
Runtime session) plus the bytes of the file that ships it. :func:`measure` evaluates each on the same test images
and times them all *interleaved* at batch 1 and batch 64 (``measure.compare_latency``), so every latency is a
ratio against the first variant (the start) measured in the same run, under the same machine state.

    rows = measure({"start": Variant(model, start_bytes), "int8": Variant(q, q_bytes)}, test, repeats=30)
    rows[1]["speedup_b1"], rows[1]["bytes_ratio"], rows[1]["accuracy"], rows[1]["accuracy_se"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .data import ImageData
from .measure import compare_latency
from .stats import binomial_se


@dataclass
class Variant:
    """``forward``: a batch of normalised images (CPU or the model's device) → logits; ``bytes``: its file's size."""

    forward: Callable[[torch.Tensor], torch.Tensor]
    bytes: int
    note: str = ""


def logits_of(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``forward`` over ``images`` in batches, under ``inference_mode``; float logits on the CPU."""
    with torch.inference_mode():
        return torch.cat([forward(images[i : i + batch_size]).float().cpu() for i in range(0, len(images), batch_size)])


def measure(variants: Mapping[str, Variant], data: ImageData, *, device: torch.device | str = "cpu", repeats: int = 30,
            warmup: int = 5, reference: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per variant, the first being the start every ratio refers to.

    Each row: ``name``, ``accuracy``, ``accuracy_se`` (binomial), ``agreement`` (share of predictions equal to the
    ``reference`` variant's, default the start's), ``bytes``, ``bytes_ratio`` (start / variant), median
    ``latency_b1_ms`` / ``latency_b64_ms`` and ``speedup_b1`` / ``speedup_b64`` (start / variant, interleaved).
    """
    if not variants:
        raise ValueError("variants is empty")
    names = list(variants)
    reference = reference or names[0]
    x, y = data.tensors(device)
    predictions = {n: logits_of(v.forward, x).argmax(1) for n, v in variants.items()}
    one, batch = x[:1], x[:64]

    def call(forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            with torch.inference_mode():
                return forward(inputs)

        return run

    b1 = compare_latency({n: call(v.forward, one) for n, v in variants.items()}, warmup=warmup, repeats=repeats,
                         device=device)  # fmt: skip
    b64 = compare_latency({n: call(v.forward, batch) for n, v in variants.items()}, warmup=max(1, warmup // 2),
                          repeats=max(5, repeats // 3), device=device)  # fmt: skip
    start = names[0]
    rows = []
    for name in names:
        accuracy = (predictions[name] == y.cpu()).float().mean().item()
        rows.append({"name": name, "accuracy": accuracy, "accuracy_se": binomial_se(accuracy, len(y)),
                     "agreement": (predictions[name] == predictions[reference]).float().mean().item(),
                     "bytes": variants[name].bytes, "bytes_ratio": variants[start].bytes / variants[name].bytes,
                     "latency_b1_ms": b1.median_ms(name), "latency_b64_ms": b64.median_ms(name),
                     "speedup_b1": b1.speedup(start, name), "speedup_b64": b64.speedup(start, name),
                     "note": variants[name].note})  # fmt: skip
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (accuracy ± SE, agreement, bytes and latencies with their ratios to the start)."""
    lines = ["| variant | accuracy ± SE | agrees with start | file bytes | bytes ÷ | b1 ms | b1 speed-up | b64 ms | "
             "b64 speed-up |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['name']} | {100 * r['accuracy']:.2f} ± {100 * r['accuracy_se']:.2f} % | "
                     f"{100 * r['agreement']:.1f} % | {r['bytes']:,} | {r['bytes_ratio']:.1f}× | {r['latency_b1_ms']:.3f} | "
                     f"{r['speedup_b1']:.2f}× | {r['latency_b64_ms']:.2f} | {r['speedup_b64']:.2f}× |")  # fmt: skip
    return "\n".join(lines)
