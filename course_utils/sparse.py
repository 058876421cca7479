"""Store pruned weights so the file really shrinks: a bitmask of nonzeros + the nonzero values, compressed.

A pruned model saved with ``torch.save`` is as big as the dense one: its zeros are stored as 4-byte
floats. ``save_sparse`` writes each tensor as a bitmask (1 bit per element: nonzero or not) plus
the nonzero values only, whichever of that and the dense bytes is smaller, and compresses the lot::

    nbytes = cu.sparse.save_sparse(model.state_dict(), "model.sparse")   # bytes written
    model.load_state_dict(cu.sparse.load_sparse("model.sparse"))          # bit-exact round trip
    cu.sparse.sparsity(model)                                             # fraction of zero weights

File layout (no pickle anywhere, so loading cannot run code)::

    b"CUSPARSE" | version (1 byte) | codec (1 byte) | CRC-32 of the payload (4 bytes, little endian)
    | compressed payload = header length (8 bytes) | JSON header | the tensors' bytes, one after another

"Nonzero" means a nonzero bit pattern, so ``-0.0`` and NaN survive the round trip exactly.
"""

from __future__ import annotations

import json
import lzma
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .atomic import write_bytes_atomic

MAGIC = b"CUSPARSE"
VERSION = 1
CODECS = {"none": 0, "zlib": 1, "lzma": 2}
_PREAMBLE = struct.Struct("<8sBBI")  # magic, version, codec, crc32

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64,
    "bool": torch.bool,
}  # fmt: skip
_DTYPE_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
# Integer views of the same width: masks and values are taken on raw bit patterns.
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


class SparseFormatError(ValueError):
    """A file is not a sparse-weights file written by :func:`save_sparse`, or it is damaged."""


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.contiguous().reshape(-1).view(_BITS[tensor.element_size()])


def _check_state_dict(state_dict: Mapping[str, torch.Tensor]) -> None:
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a dict of name -> tensor, got {type(state_dict).__name__}")
    for name, tensor in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"state_dict keys must be strings, got {name!r}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"state_dict[{name!r}] is a {type(tensor).__name__}, expected a torch.Tensor")
        if tensor.layout != torch.strided:
            raise ValueError(f"state_dict[{name!r}] has layout {tensor.layout}; pass dense tensors (.to_dense())")
        if tensor.dtype not in _DTYPE_NAMES:
            raise ValueError(f"state_dict[{name!r}] has dtype {tensor.dtype}; supported: {sorted(_DTYPES)}")


def encode_sparse(state_dict: Mapping[str, torch.Tensor], codec: str = "lzma") -> bytes:
    """The bytes :func:`save_sparse` writes (useful to measure a size without touching the disk)."""
    _check_state_dict(state_dict)
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {sorted(CODECS)}")
    entries, blobs, offset = [], [], 0
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu()
        bits = _bits(tensor)
        mask = bits != 0
        nonzero = int(mask.sum())
        dense_size = bits.numel() * tensor.element_size()
        mask_bytes = np.packbits(mask.numpy()).tobytes()
        if len(mask_bytes) + nonzero * tensor.element_size() < dense_size:
            parts, encoding = [mask_bytes, bits[mask].numpy().tobytes()], "bitmask"
        else:
            parts, encoding = [bits.numpy().tobytes()], "dense"
        lengths = [len(p) for p in parts]
        entries.append({"name": name, "dtype": _DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "encoding": encoding, "nonzero": nonzero, "offset": offset, "lengths": lengths})  # fmt: skip
        blobs.extend(parts)
        offset += sum(lengths)
    header = json.dumps({"tensors": entries}).encode()
    payload = struct.pack("<Q", len(header)) + header + b"".join(blobs)
    crc = zlib.crc32(payload)
    if codec == "zlib":
        payload = zlib.compress(payload, 9)
    elif codec == "lzma":
        payload = lzma.compress(payload, preset=9)
    return _PREAMBLE.pack(MAGIC, VERSION, CODECS[codec], crc) + payload


def decode_sparse(data: bytes, source: str = "<bytes>") -> dict[str, torch.Tensor]:
    """The dense state dict stored in ``data`` (the bytes of a file written by :func:`save_sparse`)."""
    if len(data) < _PREAMBLE.size:
        raise SparseFormatError(f"{source} is too short ({len(data)} bytes) to be a sparse-weights file")
    magic, version, codec, crc = _PREAMBLE.unpack_from(data)
    if magic != MAGIC:
        raise SparseFormatError(f"{source} is not a sparse-weights file (starts with {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise SparseFormatError(f"{source} has format version {version}; this code reads version {VERSION}")
    body = data[_PREAMBLE.size :]
    try:
        if codec == CODECS["zlib"]:
            body = zlib.decompress(body)
        elif codec == CODECS["lzma"]:
            body = lzma.decompress(body)
        elif codec != CODECS["none"]:
            raise SparseFormatError(f"{source} uses unknown codec {codec}")
    except (zlib.error, lzma.LZMAError) as error:
        raise SparseFormatError(f"{source} is corrupt: decompression failed ({error})") from error
    if zlib.crc32(body) != crc:
        raise SparseFormatError(f"{source} is corrupt: checksum mismatch")
    try:
        (header_len,) = struct.unpack_from("<Q", body)
        header = json.loads(body[8 : 8 + header_len])
        blob = memoryview(body)[8 + header_len :]
        result = {}
        for entry in header["tensors"]:
            dtype = _DTYPES[entry["dtype"]]
            shape = tuple(entry["shape"])
            numel = int(np.prod(shape, dtype=np.int64))
            raw_dtype = _BITS[torch.empty(0, dtype=dtype).element_size()]
            np_raw = torch.empty(0, dtype=raw_dtype).numpy().dtype
            start = entry["offset"]
            parts = []
            for length in entry["lengths"]:
                parts.append(blob[start : start + length])
                start += length
            if entry["encoding"] == "dense":
                bits = torch.from_numpy(np.frombuffer(parts[0], dtype=np_raw, count=numel).copy())
            elif entry["encoding"] == "bitmask":
                mask = np.unpackbits(np.frombuffer(parts[0], dtype=np.uint8), count=numel).astype(bool)
                values = np.frombuffer(parts[1], dtype=np_raw, count=entry["nonzero"])
                if int(mask.sum()) != values.size:
                    raise SparseFormatError(f"{source}: tensor {entry['name']!r} has a mask that does not match its values")
                bits = torch.zeros(numel, dtype=raw_dtype)
                bits[torch.from_numpy(mask)] = torch.from_numpy(values.copy())
            else:
                raise SparseFormatError(f"{source}: tensor {entry['name']!r} has unknown encoding {entry['encoding']!r}")
            result[entry["name"]] = bits.view(dtype).reshape(shape)
    except SparseFormatError:
        raise
    except (KeyError, TypeError, ValueError, struct.error, json.JSONDecodeError) as error:
        raise SparseFormatError(f"{source} is corrupt: malformed header or data ({error!r})") from error
    return result


def save_sparse(state_dict: Mapping[str, torch.Tensor], path: Path | str, codec: str = "lzma") -> int:
    """Write ``state_dict`` sparsely (bitmask + nonzero values, compressed); return the bytes written.

    Written to a temporary file in the same folder and renamed into place, so a crash never leaves
    a half-written file under ``path``.
    """
    return write_bytes_atomic(path, encode_sparse(state_dict, codec))


def load_sparse(path: Path | str) -> dict[str, torch.Tensor]:
    """The dense state dict saved by :func:`save_sparse`, bit for bit (no pickle: safe to load)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sparse-weights file at {path}")
    return decode_sparse(path.read_bytes(), str(path))


def _effective_tensors(obj: nn.Module | Mapping[str, torch.Tensor], only_weights: bool) -> dict[str, torch.Tensor]:
    """Name -> the weights the model computes with (``weight_orig * weight_mask`` for torch-pruned ones)."""
    if isinstance(obj, nn.Module):
        tensors = {}
        for module_name, module in obj.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, param in module.named_parameters(recurse=False):
                if name.endswith("_orig") and hasattr(module, name[: -len("_orig")]):
                    name = name[: -len("_orig")]
                    param = getattr(module, name)
                tensors[prefix + name] = param.detach()
    elif isinstance(obj, Mapping):
        _check_state_dict(obj)
        tensors = {}
        for name, tensor in obj.items():
            if name.endswith("_mask") and name[: -len("_mask")] + "_orig" in obj:
                continue
            if name.endswith("_orig") and name[: -len("_orig")] + "_mask" in obj:
                base = name[: -len("_orig")]
                tensors[base] = tensor * obj[base + "_mask"]
            else:
                tensors[name] = tensor
    else:
        raise TypeError(f"expected an nn.Module or a state dict, got {type(obj).__name__}")
    if only_weights:
        return {n: t for n, t in tensors.items() if n.rsplit(".", 1)[-1] == "weight" and t.dim() >= 2}
    return {n: t for n, t in tensors.items() if t.is_floating_point()}


def sparsity(model_or_state_dict: nn.Module | Mapping[str, torch.Tensor], only_weights: bool = True) -> float:
    """Fraction of zeros among the prunable weights.

    ``only_weights=True``: conv and linear kernels (tensors named ``weight`` with ≥ 2 dimensions; not
    biases or BatchNorm). ``False``: every floating-point parameter. Models or state dicts pruned with
    ``torch.nn.utils.prune`` count their masked weights.
    """
    tensors = _effective_tensors(model_or_state_dict, only_weights)
    if not tensors:
        what = "conv/linear weights" if only_weights else "floating-point parameters"
        raise ValueError(f"found no {what} to measure sparsity on")
    total = sum(t.numel() for t in tensors.values())
    zeros = sum(int((t == 0).sum()) for t in tensors.values())
    return zeros / total
