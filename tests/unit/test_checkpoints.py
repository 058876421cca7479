import pytest
import torch

from course_utils import checkpoints, models


def test_config_hash_is_stable_and_order_free():
    assert checkpoints.config_hash({"a": 1, "b": 2}) == checkpoints.config_hash({"b": 2, "a": 1})
    assert checkpoints.config_hash({"a": 1}) != checkpoints.config_hash({"a": 2})
    with pytest.raises(TypeError, match="JSON"):
        checkpoints.config_hash({"a": object()})


def test_cached_model_trains_once_then_loads(tmp_course_dirs):
    calls = []

    def train(model):
        calls.append(1)
        torch.nn.init.constant_(model.fc2.bias, 0.5)
        return {"test_accuracy": 0.9}

    cfg = {"lr": 0.1}
    first, meta1 = checkpoints.cached_model("toy", cfg, lambda: models.build_model("simple_cnn"), train)
    second, meta2 = checkpoints.cached_model("toy", cfg, lambda: models.build_model("simple_cnn"), train)
    assert len(calls) == 1 and meta1["trained_now"] and "loaded_from" in meta2
    assert meta2["test_accuracy"] == 0.9
    assert torch.equal(first.fc2.bias, second.fc2.bias)
    assert checkpoints.checkpoint_path("toy", cfg).parent == tmp_course_dirs / "data" / "checkpoints"


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    checkpoints.save_atomic({"state_dict": {"w": torch.ones(2)}}, path)

    def broken_save(obj, handle):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save_atomic({"state_dict": {"w": torch.zeros(2)}}, path)
    monkeypatch.undo()
    assert torch.equal(checkpoints.load_checkpoint(path)["state_dict"]["w"], torch.ones(2))  # old file intact
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_load_refuses_missing_corrupt_and_code(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="delete it to retrain"):
        checkpoints.load_checkpoint(corrupt)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"state_dict": {}, "fn": print}, unsafe)  # a pickled function: weights_only refuses it
    with pytest.raises(RuntimeError, match="weights-only"):
        checkpoints.load_checkpoint(unsafe)


def test_bad_checkpoint_name():
    with pytest.raises(ValueError, match="../x"):
        checkpoints.checkpoint_path("../x", {})
