"""Tests for course_utils.compression: bit packing, canonical code tables, the container file."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import compression as C


def test_pack_bits_known_layout():
    data, nbits = C.pack_bits([0b1, 0b01, 0b111], [1, 2, 3])
    assert nbits == 6
    assert data == bytes([0b10111100])


def test_pack_unpack_round_trip_variable_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=1000)
    codes = np.array([int(rng.integers(0, 2**n)) for n in lengths], dtype=np.uint64)
    data, nbits = C.pack_bits(codes, lengths)
    assert nbits == int(lengths.sum()) and len(data) == (nbits + 7) // 8
    bits = C.unpack_bits(data, nbits)
    start, decoded = 0, []
    for n in lengths:
        decoded.append(int(C.read_fixed(bits, int(n), 1, start)[0]))
        start += int(n)
    assert decoded == [int(c) for c in codes]


def test_fixed_width_round_trip_and_empty():
    values = np.arange(32) % 31
    data, nbits = C.pack_bits(values, np.full(32, 5))
    assert nbits == 160 and len(data) == 20
    assert np.array_equal(C.read_fixed(C.unpack_bits(data, nbits), 5, 32), values)
    assert C.pack_bits([], []) == (b"", 0)


@pytest.mark.parametrize(
    ("codes", "lengths", "error"),
    [([4], [2], ValueError), ([1], [0], ValueError), ([1], [58], ValueError), ([-1], [3], ValueError),
     ([1, 2], [3], ValueError), ([1.5], [3], TypeError)],
)  # fmt: skip
def test_pack_bits_rejects_bad_codes(codes, lengths, error):
    with pytest.raises(error):
        C.pack_bits(codes, lengths)


def test_unpack_and_read_fixed_reject_out_of_range():
    with pytest.raises(ValueError, match="nbits"):
        C.unpack_bits(b"\x00", 9)
    with pytest.raises(TypeError):
        C.unpack_bits([0, 1], 2)
    with pytest.raises(ValueError, match="cannot read"):
        C.read_fixed(np.zeros(10, dtype=np.uint8), 4, 3)


def test_canonical_codes_are_prefix_free_and_follow_lengths():
    lengths = {0: 2, 1: 1, 2: 3, 3: 3}
    codes = C.canonical_codes(lengths)
    assert codes == {1: (0b0, 1), 0: (0b10, 2), 2: (0b110, 3), 3: (0b111, 3)}
    words = [format(c, f"0{n}b") for c, n in codes.values()]
    assert not any(a != b and b.startswith(a) for a in words for b in words)


def test_canonical_codes_reject_impossible_lengths():
    with pytest.raises(ValueError, match="Kraft"):
        C.canonical_codes({0: 1, 1: 1, 2: 1})
    with pytest.raises(ValueError, match="empty"):
        C.canonical_codes({})
    with pytest.raises(ValueError, match="length"):
        C.canonical_codes({0: 0})


def test_code_lengths_round_trip_sparse_and_dense():
    spread = {0: 1, 7: 2, 300: 3, 31: 3}
    blob = C.encode_code_lengths(spread)
    assert blob[0] == 1 and len(blob) == 3 + 3 * 4, "few symbols spread far apart: the sparse layout is shorter"
    assert C.decode_code_lengths(blob) == spread
    packed = dict.fromkeys(range(32), 5)
    blob = C.encode_code_lengths(packed)
    assert blob[0] == 0 and len(blob) == 3 + 32, "consecutive symbols: the dense layout is shorter"
    assert C.decode_code_lengths(blob) == packed
    gappy = {0: 1, 2: 2, 3: 2}
    assert C.decode_code_lengths(C.encode_code_lengths(gappy)) == gappy, "absent symbols must stay absent"


def test_code_lengths_reject_corruption():
    blob = C.encode_code_lengths({0: 1, 1: 2, 2: 2})
    assert blob[0] == 0
    with pytest.raises(C.ContainerError, match="bytes"):
        C.decode_code_lengths(blob[:-1])
    with pytest.raises(C.ContainerError, match="not a code table"):
        C.decode_code_lengths(b"\x07" + blob[1:])
    bad = bytearray(blob)
    bad[3 + 1] = 1  # symbol 1 now has length 1: three symbols cannot all be that short
    with pytest.raises(C.ContainerError, match="Kraft"):
        C.decode_code_lengths(bytes(bad))
    with pytest.raises(ValueError, match="Kraft"):
        C.encode_code_lengths({0: 1, 1: 1, 2: 1})


def test_bit_windows_peek():
    bits = np.array([1, 0, 1, 1], dtype=np.uint8)
    assert C.bit_windows(bits, 3).tolist() == [0b101, 0b011, 0b110, 0b100]
    with pytest.raises(ValueError):
        C.bit_windows(bits, 0)


def test_container_round_trip(tmp_path):
    meta = {"layers": [{"name": "fc1", "shape": [500, 800], "bits": 5}], "note": "é"}
    sections = {"fc1.idx": b"\x01\x02\x03", "fc1.gap": b"", "codebook": bytes(range(256))}
    path = tmp_path / "sub" / "model.dc"
    nbytes = C.write_container(path, meta, sections)
    assert nbytes == path.stat().st_size
    assert C.read_container(path) == (meta, sections)
    assert [p.name for p in path.parent.iterdir()] == ["model.dc"], "no temporary file may be left behind"


def test_container_detects_damage(tmp_path):
    data = C.encode_container({"a": 1}, {"x": b"payload"})
    with pytest.raises(C.ContainerError, match="checksum"):
        C.decode_container(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(C.ContainerError, match="checksum"):
        C.decode_container(data[:-2])
    with pytest.raises(C.ContainerError, match="not a compressed-model"):
        C.decode_container(b"PK\x03\x04" + data[4:])
    with pytest.raises(C.ContainerError, match="too short"):
        C.decode_container(b"CU")
    with pytest.raises(C.ContainerError, match="version"):
        C.decode_container(data[:7] + bytes([99]) + data[8:])
    with pytest.raises(FileNotFoundError):
        C.read_container(tmp_path / "missing.dc")


def test_container_rejects_bad_inputs():
    with pytest.raises(TypeError, match="bytes"):
        C.encode_container({}, {"x": [1, 2]})
    with pytest.raises(ValueError, match="JSON"):
        C.encode_container({"x": object()}, {})
    with pytest.raises(ValueError, match="JSON"):
        C.encode_container({"x": float("nan")}, {})
    with pytest.raises(ValueError, match="section names"):
        C.encode_container({}, {"": b""})
