import io

import pytest
import torch
from torch.nn.utils import prune

from course_utils import models, sparse


def _pruned_state(amount: float = 0.9) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = models.build_model("lenet5_caffe")
    params = [(m, "weight") for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in params:
        prune.remove(module, name)
    return model.state_dict()


def _dense_bytes(state: dict) -> int:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


@pytest.mark.parametrize("codec", ["lzma", "zlib", "none"])
def test_round_trip_is_bit_exact(tmp_path, codec):
    state = _pruned_state()
    state["odd.values"] = torch.tensor([0.0, -0.0, float("nan"), float("inf"), 1e-45, 0.0])
    state["bf16"] = torch.tensor([[0.0, 1.5], [0.0, -2.0]], dtype=torch.bfloat16)
    state["half"] = torch.zeros(7, dtype=torch.float16)
    state["ints"] = torch.tensor([0, 3, 0, -7], dtype=torch.int64)
    state["flags"] = torch.tensor([True, False, False])
    state["scalar"] = torch.tensor(5)
    state["empty"] = torch.zeros(0, 3)
    state["strided"] = torch.arange(12.0).reshape(3, 4).t()  # not contiguous
    path = tmp_path / "m.sparse"
    written = sparse.save_sparse(state, path, codec=codec)
    assert written == path.stat().st_size
    loaded = sparse.load_sparse(path)
    assert list(loaded) == list(state)
    for name, tensor in state.items():
        got = loaded[name]
        assert got.dtype == tensor.dtype and got.shape == tensor.shape, name
        # compare bit patterns so -0.0 and NaN count
        assert torch.equal(sparse._bits(got), sparse._bits(tensor)), name


def test_loaded_weights_give_same_predictions(tmp_path):
    state = _pruned_state()
    sparse.save_sparse(state, tmp_path / "m.sparse")
    model_a, model_b = models.build_model("lenet5_caffe").eval(), models.build_model("lenet5_caffe").eval()
    model_a.load_state_dict(state)
    model_b.load_state_dict(sparse.load_sparse(tmp_path / "m.sparse"))
    x = models.example_input("lenet5_caffe", 8)
    assert torch.equal(model_a(x), model_b(x))


def test_file_shrinks_at_90_percent_sparsity(tmp_path):
    state = _pruned_state(0.9)
    written = sparse.save_sparse(state, tmp_path / "m.sparse")
    assert _dense_bytes(state) / written >= 5, (_dense_bytes(state), written)
    # a dense tensor is stored densely, not bigger than its raw bytes (plus a little header)
    dense = {"w": torch.randn(1000, 100)}
    assert sparse.save_sparse(dense, tmp_path / "d.sparse", codec="none") < 4 * 100_000 + 400


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        sparse.save_sparse([torch.zeros(2)], tmp_path / "x")
    with pytest.raises(TypeError, match="'w'.*torch.Tensor"):
        sparse.save_sparse({"w": [1.0, 2.0]}, tmp_path / "x")
    with pytest.raises(TypeError, match="keys must be strings"):
        sparse.save_sparse({1: torch.zeros(2)}, tmp_path / "x")
    with pytest.raises(ValueError, match="dtype"):
        sparse.save_sparse({"c": torch.zeros(2, dtype=torch.complex64)}, tmp_path / "x")
    with pytest.raises(ValueError, match="layout"):
        sparse.save_sparse({"s": torch.eye(3).to_sparse()}, tmp_path / "x")
    with pytest.raises(ValueError, match="codec"):
        sparse.save_sparse({"w": torch.zeros(2)}, tmp_path / "x", codec="gzip")
    assert not list(tmp_path.iterdir()), "a failed save must not leave files behind"


def test_missing_and_corrupt_files_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="no sparse-weights file"):
        sparse.load_sparse(tmp_path / "missing.sparse")
    path = tmp_path / "m.sparse"
    sparse.save_sparse(_pruned_state(), path)
    data = bytearray(path.read_bytes())

    torch.save({"w": torch.zeros(2)}, tmp_path / "pickle.pt")
    with pytest.raises(sparse.SparseFormatError, match="not a sparse-weights file"):
        sparse.load_sparse(tmp_path / "pickle.pt")
    (tmp_path / "short").write_bytes(b"CUS")
    with pytest.raises(sparse.SparseFormatError, match="too short"):
        sparse.load_sparse(tmp_path / "short")
    truncated = tmp_path / "truncated.sparse"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(sparse.SparseFormatError, match="corrupt"):
        sparse.load_sparse(truncated)
    for codec in ("none", "lzma"):
        sparse.save_sparse({"w": torch.arange(100.0)}, path, codec=codec)
        flipped = bytearray(path.read_bytes())
        flipped[-3] ^= 0xFF
        path.write_bytes(bytes(flipped))
        with pytest.raises(sparse.SparseFormatError, match="corrupt"):
            sparse.load_sparse(path)


def test_sparsity_of_models_and_state_dicts():
    model = models.build_model("simple_cnn")
    assert sparse.sparsity(model) == 0.0
    prune.l1_unstructured(model.fc1, "weight", amount=0.5)  # 8,000 of 16,000 fc1 weights
    prunable = sum(m.weight.numel() for m in (model.conv1, model.conv2, model.fc1, model.fc2))
    assert sparse.sparsity(model) == pytest.approx(8000 / prunable)
    assert sparse.sparsity(model.state_dict()) == pytest.approx(8000 / prunable)  # weight_orig * weight_mask
    prune.remove(model.fc1, "weight")
    assert sparse.sparsity(model.state_dict()) == pytest.approx(8000 / prunable)
    all_params = models.count_parameters(model)
    assert sparse.sparsity(model, only_weights=False) == pytest.approx(8000 / all_params)
    # BatchNorm weights and biases are not prunable weights
    resnet = models.build_model("resnet8")
    with torch.no_grad():
        for module in resnet.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.zero_()
    assert sparse.sparsity(resnet) == 0.0
    with pytest.raises(ValueError, match="no conv/linear weights"):
        sparse.sparsity({"bias": torch.zeros(3)})
    with pytest.raises(TypeError, match="nn.Module or a state dict"):
        sparse.sparsity(torch.zeros(3))
