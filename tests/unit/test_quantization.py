import io

import pytest
import torch
from torch import nn

from course_utils import data, quantization


def _tensors() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "conv.weight": torch.randint(-128, 128, (4, 3, 3, 3), dtype=torch.int8, generator=generator),
        "conv.scale": torch.rand(4, generator=generator),
        "conv.zero_point": torch.zeros(4, dtype=torch.int8),
        "fc.weight": torch.randint(-128, 128, (10, 4), dtype=torch.int8, generator=generator),
        "fc.bias": torch.randn(10, generator=generator).t(),
        "strided": torch.arange(12.0).reshape(3, 4).t(),  # not contiguous
        "scalar": torch.tensor(7, dtype=torch.int32),
        "empty": torch.zeros(0, 3, dtype=torch.int8),
        "half": torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
    }


def test_pack_round_trip_is_exact():
    tensors = _tensors()
    packed = quantization.pack_tensors(tensors, meta={"model": "x"})
    assert set(packed["blobs"]) == {"int8", "float32", "int32", "bfloat16"}
    unpacked = quantization.unpack_tensors(packed)
    assert list(unpacked) == list(tensors)
    for name, tensor in tensors.items():
        assert unpacked[name].dtype == tensor.dtype and unpacked[name].shape == tensor.shape, name
        assert torch.equal(unpacked[name], tensor), name


def test_save_load_round_trip_and_size(tmp_path):
    tensors = _tensors()
    path = tmp_path / "m.int8.pt"
    written = quantization.save_quantized(tensors, path, meta={"bits": 8})
    assert written == path.stat().st_size == quantization.quantized_bytes(tensors, meta={"bits": 8})
    loaded, meta = quantization.load_quantized(path)
    assert meta == {"bits": 8}
    assert all(torch.equal(loaded[n], t) for n, t in tensors.items())


def test_int8_artifact_is_about_four_times_smaller_than_fp32():
    weights = {f"layer{i}.weight": torch.randn(64, 64, 3, 3) for i in range(10)}
    fp32 = io.BytesIO()
    torch.save(weights, fp32)
    int8 = {n: w.clamp(-1, 1).mul(127).round().to(torch.int8) for n, w in weights.items()}
    ratio = fp32.getbuffer().nbytes / quantization.quantized_bytes(int8)
    assert 3.9 < ratio <= 4.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="non-empty"):
        quantization.pack_tensors({})
    with pytest.raises(TypeError, match="'w'"):
        quantization.pack_tensors({"w": [1, 2]})
    with pytest.raises(ValueError, match="complex"):
        quantization.pack_tensors({"w": torch.zeros(2, dtype=torch.complex64)})
    with pytest.raises(quantization.QuantizedFormatError):
        quantization.unpack_tensors({"state_dict": {}})
    packed = quantization.pack_tensors({"w": torch.zeros(4, dtype=torch.int8)})
    packed["layout"][0][2] = [5]  # claims more values than stored
    with pytest.raises(quantization.QuantizedFormatError, match="does not fit"):
        quantization.unpack_tensors(packed)


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        quantization.load_quantized(tmp_path / "nothing.pt")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "plain.pt")
    with pytest.raises(quantization.QuantizedFormatError, match="not a packed artifact"):
        quantization.load_quantized(tmp_path / "plain.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(quantization.QuantizedFormatError):
        quantization.load_quantized(tmp_path / "junk.pt")


def test_pt2e_artifact_of_a_converted_model():
    pytest.importorskip("torchao")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5)).eval()
    example = torch.randn(4, 3, 8, 8)
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(quantization.export_for_pt2e(model, (example,)), quantizer)  # strict where torch needs it
    prepared(example)
    tensors = quantization.pt2e_artifact(convert_pt2e(prepared))
    weights = [t for t in tensors.values() if t.dtype == torch.int8 and t.dim() >= 2]
    assert sorted(tuple(w.shape) for w in weights) == [(5, 288), (8, 3, 3, 3)]
    assert all(t.dtype == torch.int8 for n, t in tensors.items() if "zero_point" in n and n.startswith("_"))
    assert tensors["activations.scale"].numel() >= 1 and (tensors["activations.scale"] > 0).all()
    with pytest.raises(ValueError, match="no int8 weights"):
        quantization.pt2e_artifact(torch.fx.symbolic_trace(model))
    with pytest.raises(TypeError, match="GraphModule"):
        quantization.pt2e_artifact(model)


def test_narrowing_refuses_zero_points_outside_int8():
    with pytest.raises(ValueError, match="outside int8"):
        quantization._narrow("zp", torch.tensor([0, 200]))


def test_predict_padded_matches_unpadded_and_keeps_batch_fixed():
    images = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
    dataset = data.ImageData("toy", images, torch.arange(10) % 3, ("a", "b", "c"), (0.5,), (0.25,))
    weight = torch.randn(16, 3)
    seen = set()

    def model(x):
        seen.add((x.shape[0], x.is_inference(), torch.is_inference_mode_enabled()))
        return x.flatten(1) @ weight

    logits = quantization.predict_padded(model, dataset, batch_size=4)
    assert seen == {(4, False, True)}  # fixed batch; ordinary tensors (no recompile), run under inference mode
    assert torch.allclose(logits, dataset.tensors()[0].flatten(1) @ weight)
    with pytest.raises(ValueError, match="batch_size"):
        quantization.predict_padded(model, dataset, batch_size=0)


def test_quantization_does_not_depend_on_checkpoints(tmp_path, monkeypatch):
    import ast
    from pathlib import Path

    tree = ast.parse(Path(quantization.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name and "checkpoints" in name for name in imported), imported
    path = tmp_path / "q.pt"
    written = []
    monkeypatch.setattr(quantization, "write_bytes_atomic", lambda p, data: written.append((p, len(data))) or len(data))
    size = quantization.save_quantized(_tensors(), path)
    assert written == [(path, size)]  # written through atomic.write_bytes_atomic, in one piece
