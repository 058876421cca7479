"""Plumbing for a Deep Compression file: variable-length bit packing, canonical code tables, one safe container.

The technique (pruning, k-means weight sharing, building a Huffman code) lives in notebook 04; this
module only stores what it produces, with no pickle anywhere, so loading a file cannot run code::

    data, nbits = pack_bits(codes, lengths)          # concatenate codes MSB-first into bytes
    bits = unpack_bits(data, nbits)                  # back to a 0/1 array
    codes = canonical_codes({symbol: length, ...})   # a prefix code rebuilt from its code lengths alone
    table = encode_code_lengths(lengths)             # ... so a code table is stored as its lengths
    nbytes = write_container(path, meta, {"fc1.idx": data, ...})   # atomic: temp file + rename
    meta, sections = read_container(path)

Container layout::

    b"CUDEEPC" | version (1 byte) | CRC-32 of everything after it (4 bytes, little endian)
    | header length (4 bytes) | zlib-compressed JSON header {"meta": ..., "sections": [[name, length], ...]}
    | the sections' bytes, one after another
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_bytes_atomic

MAGIC = b"CUDEEPC"
VERSION = 1
MAX_CODE_LENGTH = 57  # codes are held in uint64 words; 57 leaves room for the shifts below
_PREAMBLE = struct.Struct("<7sBI")  # magic, version, crc32
_HEADER_LEN = struct.Struct("<I")


class ContainerError(ValueError):
    """A file or byte string is not a valid compressed-model container, or it is damaged."""


def _as_codes(codes: Any, lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes)
    lengths = np.asarray(lengths)
    if codes.shape != lengths.shape or codes.ndim != 1:
        raise ValueError(f"codes and lengths must be 1-D arrays of the same length, got shapes {codes.shape} and {lengths.shape}")
    if codes.size and not (np.issubdtype(codes.dtype, np.integer) and np.issubdtype(lengths.dtype, np.integer)):
        raise TypeError(f"codes and lengths must be integers, got {codes.dtype} and {lengths.dtype}")
    if codes.size and (lengths.min() < 1 or lengths.max() > MAX_CODE_LENGTH):
        raise ValueError(f"code lengths must lie in [1, {MAX_CODE_LENGTH}], got min {lengths.min()} max {lengths.max()}")
    if codes.size and (codes.min() < 0 or np.any(codes.astype(np.uint64) >> lengths.astype(np.uint64) != 0)):
        bad = int(np.flatnonzero((codes < 0) | (codes.astype(np.uint64) >> lengths.astype(np.uint64) != 0))[0])
        raise ValueError(f"code {int(codes[bad])} at position {bad} does not fit in {int(lengths[bad])} bits")
    return codes.astype(np.uint64), lengths.astype(np.int64)


def pack_bits(codes: Any, lengths: Any) -> tuple[bytes, int]:
    """Concatenate ``codes[i]`` written in ``lengths[i]`` bits (most significant bit first) into bytes.

    Returns ``(data, nbits)``; the last byte is padded with zero bits. Fixed-width packing is the
    special case of equal lengths.
    """
    codes, lengths = _as_codes(codes, lengths)
    if codes.size == 0:
        return b"", 0
    width = int(lengths.max())
    shifts = lengths[:, None] - 1 - np.arange(width)[None, :]  # bit j of a code, MSB first
    valid = shifts >= 0
    bits = (codes[:, None] >> np.where(valid, shifts, 0).astype(np.uint64)) & np.uint64(1)
    stream = bits[valid].astype(np.uint8)  # row-major: code after code
    return np.packbits(stream).tobytes(), int(stream.size)


def unpack_bits(data: bytes, nbits: int) -> np.ndarray:
    """The first ``nbits`` bits of ``data`` as a uint8 array of 0/1 (inverse of :func:`pack_bits`)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if not isinstance(nbits, (int, np.integer)) or nbits < 0 or nbits > 8 * len(data):
        raise ValueError(f"nbits must be an int in [0, {8 * len(data)}] for {len(data)} bytes, got {nbits!r}")
    return np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8), count=int(nbits))


def read_fixed(bits: np.ndarray, width: int, count: int, start: int = 0) -> np.ndarray:
    """``count`` unsigned integers of ``width`` bits each, read MSB-first from a 0/1 array at ``start``."""
    if not 1 <= width <= MAX_CODE_LENGTH:
        raise ValueError(f"width must lie in [1, {MAX_CODE_LENGTH}], got {width}")
    if count < 0 or start < 0 or start + width * count > bits.size:
        raise ValueError(f"cannot read {count} values of {width} bits at bit {start} from {bits.size} bits")
    block = bits[start : start + width * count].reshape(count, width).astype(np.uint64)
    return block @ (np.uint64(1) << np.arange(width - 1, -1, -1, dtype=np.uint64))


def canonical_codes(lengths: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """``{symbol: (code, length)}``: the canonical prefix code with the given code lengths.

    Symbols sorted by (length, symbol) get consecutive codes, so the lengths alone define the code
    (as in DEFLATE) and a code table is stored as its lengths. Raises when the lengths break the
    Kraft inequality (no prefix code has them).
    """
    if not lengths:
        raise ValueError("lengths is empty; a code needs at least one symbol")
    for symbol, length in lengths.items():
        if not isinstance(symbol, (int, np.integer)) or symbol < 0:
            raise ValueError(f"symbols must be non-negative ints, got {symbol!r}")
        if not isinstance(length, (int, np.integer)) or not 1 <= length <= MAX_CODE_LENGTH:
            raise ValueError(f"code length of symbol {symbol} must be an int in [1, {MAX_CODE_LENGTH}], got {length!r}")
    if sum(2.0 ** -int(n) for n in lengths.values()) > 1 + 1e-12:
        raise ValueError(f"code lengths {dict(lengths)} break the Kraft inequality: no prefix code has them")
    codes, code, previous = {}, 0, None
    for symbol, length in sorted(lengths.items(), key=lambda item: (item[1], item[0])):
        if previous is not None:
            code = (code + 1) << (length - previous)
        codes[int(symbol)] = (code, int(length))
        previous = length
    return codes


def encode_code_lengths(lengths: Mapping[int, int]) -> bytes:
    """A code table as bytes: the code lengths alone (the codes are canonical), in the shorter of two layouts.

    Dense: ``0x00`` | n (2 bytes) | one length byte for each symbol 0 … n − 1 (0 = symbol absent).
    Sparse: ``0x01`` | count (2 bytes) | (symbol: 2 bytes, length: 1 byte) per symbol.
    """
    canonical_codes(lengths)  # validates
    if len(lengths) > 0xFFFF or max(lengths) >= 0xFFFF:
        raise ValueError(f"at most 65,535 symbols below 65,535 are supported, got {len(lengths)} up to {max(lengths)}")
    items = sorted((int(s), int(n)) for s, n in lengths.items())
    dense = bytearray(items[-1][0] + 1)
    for symbol, length in items:
        dense[symbol] = length
    sparse = b"".join(struct.pack("<HB", s, n) for s, n in items)
    if len(dense) <= len(sparse):
        return b"\x00" + struct.pack("<H", len(dense)) + bytes(dense)
    return b"\x01" + struct.pack("<H", len(items)) + sparse


def decode_code_lengths(data: bytes) -> dict[int, int]:
    """Inverse of :func:`encode_code_lengths`; raises :class:`ContainerError` on malformed bytes."""
    if len(data) < 3 or data[0] not in (0, 1):
        raise ContainerError(f"not a code table: {len(data)} bytes starting with {bytes(data[:1])!r}")
    (count,) = struct.unpack_from("<H", data, 1)
    expected = 3 + (count if data[0] == 0 else 3 * count)
    if len(data) != expected:
        raise ContainerError(f"a code table with count {count} has {expected} bytes, got {len(data)}")
    if data[0] == 0:
        lengths = {symbol: length for symbol, length in enumerate(data[3:]) if length}
    else:
        lengths = dict(struct.unpack_from("<HB", data, 3 + 3 * i) for i in range(count))
    try:
        canonical_codes(lengths)
    except ValueError as error:
        raise ContainerError(f"invalid code table: {error}") from error
    return lengths


def encode_container(meta: Mapping[str, Any], sections: Mapping[str, bytes]) -> bytes:
    """The bytes :func:`write_container` writes: JSON-serialisable ``meta`` plus named byte sections."""
    if not isinstance(sections, Mapping):
        raise TypeError(f"sections must be a dict of name -> bytes, got {type(sections).__name__}")
    for name, blob in sections.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"section names must be non-empty strings, got {name!r}")
        if not isinstance(blob, (bytes, bytearray)):
            raise TypeError(f"section {name!r} is a {type(blob).__name__}, expected bytes")
    try:
        header = json.dumps({"meta": meta, "sections": [[n, len(b)] for n, b in sections.items()]},
                            separators=(",", ":"), allow_nan=False).encode()  # fmt: skip
    except (TypeError, ValueError) as error:
        raise ValueError(f"meta must be JSON-serialisable (numbers, strings, lists, dicts): {error}") from error
    header = zlib.compress(header, 9)
    body = _HEADER_LEN.pack(len(header)) + header + b"".join(bytes(b) for b in sections.values())
    return _PREAMBLE.pack(MAGIC, VERSION, zlib.crc32(body)) + body


def decode_container(data: bytes, source: str = "<bytes>") -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(meta, sections)`` from the bytes of a container; :class:`ContainerError` when invalid."""
    if len(data) < _PREAMBLE.size + _HEADER_LEN.size:
        raise ContainerError(f"{source} is too short ({len(data)} bytes) to be a compressed-model file")
    magic, version, crc = _PREAMBLE.unpack_from(data)
    if magic != MAGIC:
        raise ContainerError(f"{source} is not a compressed-model file (starts with {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise ContainerError(f"{source} has format version {version}; this code reads version {VERSION}")
    body = memoryview(data)[_PREAMBLE.size :]
    if zlib.crc32(body) != crc:
        raise ContainerError(f"{source} is corrupt: checksum mismatch (truncated or modified)")
    try:
        (header_len,) = _HEADER_LEN.unpack_from(body)
        header = json.loads(zlib.decompress(body[_HEADER_LEN.size : _HEADER_LEN.size + header_len]))
        offset = _HEADER_LEN.size + header_len
        sections = {}
        for name, length in header["sections"]:
            if offset + length > len(body):
                raise ContainerError(f"{source}: section {name!r} runs past the end of the file")
            sections[name] = bytes(body[offset : offset + length])
            offset += length
        if offset != len(body):
            raise ContainerError(f"{source}: {len(body) - offset} unexpected bytes after the last section")
        return header["meta"], sections
    except ContainerError:
        raise
    except (KeyError, TypeError, ValueError, struct.error, zlib.error) as error:
        raise ContainerError(f"{source} is corrupt: malformed header ({error!r})") from error


def write_container(path: Path | str, meta: Mapping[str, Any], sections: Mapping[str, bytes]) -> int:
    """Write one container file atomically (temp file in the same folder, then rename); return its bytes."""
    return write_bytes_atomic(path, encode_container(meta, sections))


def read_container(path: Path | str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(meta, sections)`` of a file written by :func:`write_container` (no pickle: safe to load)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no compressed-model file at {path}")
    return decode_container(path.read_bytes(), str(path))


def bit_windows(bits: np.ndarray, width: int) -> np.ndarray:
    """For every bit position i, the next ``width`` bits read as an integer (zero-padded past the end).

    This is the "peek" of a table-driven decoder: ``table[windows[i]]`` gives the symbol starting at bit i.
    """
    if not 1 <= width <= 32:
        raise ValueError(f"width must lie in [1, 32], got {width}")
    padded = np.concatenate([np.asarray(bits, dtype=np.int64), np.zeros(width - 1, dtype=np.int64)])
    windows = np.zeros(len(bits), dtype=np.int64)
    for j in range(width):
        windows = (windows << 1) | padded[j : j + len(bits)]
    return windows
