"""Plumbing for int8 models: one small weights-only file for quantized tensors, and fixed-batch prediction.

The quantization technique itself (scales, zero-points, rounding, fake quant) is written in notebook 02;
this module only ships and runs what it produces.

- :func:`pack_tensors` / :func:`unpack_tensors`: many tensors → one flat tensor per dtype plus a layout
  list, so a file of 80 small tensors does not pay ``torch.save``'s per-tensor overhead 80 times.
- :func:`save_quantized` / :func:`load_quantized`: ``torch.save`` of the packed form, written atomically,
  loaded with ``weights_only=True`` (a file cannot run code). :func:`quantized_bytes` measures it in memory.
- :func:`pt2e_artifact`: what a model converted by ``torchao.quantization.pt2e.convert_pt2e`` computes
  with: its int8 weights, per-channel scales and zero-points, fp32 biases and activation scales/zero-points.
- :func:`predict_padded`: logits of a model compiled for one fixed batch size (pads the last batch).
- :func:`export_for_pt2e`: ``torch.export`` as a PT2E quantizer needs it on the installed torch (strict where the
  default export leaves the quantizer nothing to match, as on torch 2.9.1 with torchao 0.15).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from .atomic import write_bytes_atomic
from .data import Batches, ImageData

FORMAT = "course-quantized"
VERSION = 1
DTYPES = {"int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64,
          "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}  # fmt: skip
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


class QuantizedFormatError(ValueError):
    """A file or dict is not a packed artifact written by :func:`pack_tensors` / :func:`save_quantized`."""


def pack_tensors(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"format", "version", "layout", "blobs", "meta"}``: one flat tensor per dtype and where each tensor lies.

    ``layout`` rows are ``[name, dtype name, shape, offset]``; ``meta`` must hold only what
    ``torch.load(weights_only=True)`` accepts (numbers, strings, lists, dicts).
    """
    if not isinstance(tensors, Mapping) or not tensors:
        raise ValueError(f"tensors must be a non-empty dict of name -> tensor, got {type(tensors).__name__}")
    layout, parts, sizes = [], {}, {}
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be strings, got {name!r}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensors[{name!r}] is a {type(tensor).__name__}, expected a torch.Tensor")
        if tensor.dtype not in _DTYPE_NAMES:
            raise ValueError(f"tensors[{name!r}] has dtype {tensor.dtype}; supported: {sorted(DTYPES)}")
        dtype = _DTYPE_NAMES[tensor.dtype]
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        offset = sizes.get(dtype, 0)
        layout.append([name, dtype, list(tensor.shape), offset])
        parts.setdefault(dtype, []).append(flat)
        sizes[dtype] = offset + flat.numel()
    blobs = {dtype: torch.cat(chunks) for dtype, chunks in parts.items()}
    return {"format": FORMAT, "version": VERSION, "layout": layout, "blobs": blobs, "meta": dict(meta or {})}


def unpack_tensors(packed: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors :func:`pack_tensors` packed, same names, dtypes, shapes and values."""
    if not isinstance(packed, Mapping) or packed.get("format") != FORMAT:
        raise QuantizedFormatError(f"not a packed artifact (expected format {FORMAT!r})")
    if packed.get("version") != VERSION:
        raise QuantizedFormatError(f"artifact version {packed.get('version')!r}; this code reads version {VERSION}")
    result = {}
    try:
        for name, dtype, shape, offset in packed["layout"]:
            blob = packed["blobs"][dtype]
            numel = 1
            for dim in shape:
                numel *= dim
            if blob.dtype != DTYPES[dtype] or offset + numel > blob.numel():
                raise QuantizedFormatError(f"tensor {name!r} does not fit in the {dtype} blob of {blob.numel()} values")
            result[name] = blob[offset : offset + numel].reshape(shape).clone()
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, QuantizedFormatError):
            raise
        raise QuantizedFormatError(f"malformed layout or blobs ({error!r})") from error
    return result


def quantized_bytes(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None = None) -> int:
    """Bytes :func:`save_quantized` would write for ``tensors`` (measured in memory)."""
    buffer = io.BytesIO()
    torch.save(pack_tensors(tensors, meta), buffer)
    return buffer.getbuffer().nbytes


def save_quantized(tensors: Mapping[str, torch.Tensor], path: Path | str, meta: Mapping[str, Any] | None = None) -> int:
    """Write the packed tensors atomically to ``path``; return the bytes written."""
    buffer = io.BytesIO()
    torch.save(pack_tensors(tensors, meta), buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def load_quantized(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, meta)`` from a file written by :func:`save_quantized`, loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no quantized artifact at {path}")
    try:
        packed = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise QuantizedFormatError(f"{path} is not a weights-only torch file ({error})") from error
    return unpack_tensors(packed), dict(packed.get("meta", {}))


def _narrow(name: str, tensor: torch.Tensor) -> torch.Tensor:
    if tensor.numel() and (tensor.min() < -128 or tensor.max() > 127):
        raise ValueError(f"zero-point {name!r} has values outside int8 ([{int(tensor.min())}, {int(tensor.max())}])")
    return tensor.to(torch.int8)


def pt2e_artifact(converted: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors a model converted by ``convert_pt2e`` computes with, as they would be shipped.

    Every constant of its graph (int8 weights, fp32 per-channel scales, biases) under its own name;
    integer zero-points (stored as int64 by PT2E) narrowed to int8; and the scale/zero-point of every
    activation ``quantize_per_tensor`` node, in graph order, as ``activations.scale`` (float32) and
    ``activations.zero_point`` (int32).
    """
    graph = getattr(converted, "graph", None)
    if graph is None:
        raise TypeError(f"expected a torch.fx GraphModule from convert_pt2e, got {type(converted).__name__}")
    tensors: dict[str, torch.Tensor] = {}
    act_scales, act_zero_points = [], []
    for node in graph.nodes:
        if node.op == "get_attr":
            value = functools.reduce(getattr, node.target.split("."), converted)
            if isinstance(value, torch.Tensor):
                is_zero_point = "zero_point" in node.target and not value.is_floating_point()
                tensors[node.target] = _narrow(node.target, value) if is_zero_point else value.detach()
        elif node.op == "call_function" and "quantize_per_tensor" in str(node.target) and "dequantize" not in str(node.target):
            scale, zero_point = node.args[1], node.args[2]
            if isinstance(scale, float) and isinstance(zero_point, int):
                act_scales.append(scale)
                act_zero_points.append(zero_point)
    if not any(t.dtype == torch.int8 and t.dim() >= 2 for t in tensors.values()):
        raise ValueError("found no int8 weights in the graph: was the model converted with convert_pt2e(fold_quantize=True)?")
    tensors["activations.scale"] = torch.tensor(act_scales, dtype=torch.float32)
    tensors["activations.zero_point"] = torch.tensor(act_zero_points, dtype=torch.int32)
    return tensors


def _quantizer_annotates(strict: bool) -> bool:
    """Whether ``X86InductorQuantizer`` annotates a conv in a graph exported with ``strict`` on this torch."""
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    probe = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1)).eval()
    graph = torch.export.export(probe, (torch.zeros(1, 1, 2, 2),), strict=strict).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    quantizer.annotate(graph)
    return any("quantization_annotation" in node.meta for node in graph.graph.nodes)


@functools.cache
def pt2e_needs_strict_export() -> bool:
    """True where torch.export's default (non-strict) graph gives the x86 PT2E quantizer nothing to match.

    The quantizer finds convs and linears by the ``source_fn_stack`` a graph node records. Non-strict export
    (torch.export's default) records it on torch 2.14.1 but not on 2.9.1: there torchao 0.15's quantizer
    annotates nothing, and ``convert_pt2e`` returns the float model without a word. Strict export records it on
    both. Checked once per process on a one-conv model.
    """
    return not _quantizer_annotates(strict=False)


def export_for_pt2e(model: torch.nn.Module, args: tuple[Any, ...], *, dynamic_shapes: Any = None) -> torch.fx.GraphModule:
    """``torch.export.export(model, args, dynamic_shapes=...).module()``, ready for ``prepare_pt2e``.

    Non-strict (torch's default) where the quantizer can match that graph, strict where it cannot
    (:func:`pt2e_needs_strict_export`), so the same notebook quantizes on every torch the course was run on.
    """
    strict = pt2e_needs_strict_export()
    return torch.export.export(model, args, dynamic_shapes=dynamic_shapes, strict=strict).module()


def predict_padded(model: Callable[[torch.Tensor], torch.Tensor], data: ImageData, batch_size: int) -> torch.Tensor:
    """Logits for every image of ``data`` from a model that only accepts batches of exactly ``batch_size``.

    The last, partial batch is padded with copies of its first image and the padding's outputs dropped.
    The model runs under ``torch.inference_mode`` like ``cu.measure.compare_models``, on batches built outside
    it (ordinary tensors, like the examples one times and compiles with): an inference tensor would fail a
    compiled model's guards and make it compile the same shape a second time.
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    outputs = []
    for x, _ in Batches(data, batch_size):
        n = x.shape[0]
        if n < batch_size:
            x = torch.cat([x, x[:1].expand(batch_size - n, *x.shape[1:])])
        with torch.inference_mode():
            outputs.append(model(x)[:n].float().cpu())
    return torch.cat(outputs)
