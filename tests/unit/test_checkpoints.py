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


def _set_bias(value, calls):
    def train(model):
        calls.append(value)
        torch.nn.init.constant_(model.fc2.bias, value)
        return {"test_accuracy": value}

    return train


def test_code_version_ignores_docs_and_formatting_but_not_code(tmp_path):
    source = tmp_path / "train.py"
    source.write_text('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # note\n')
    before = checkpoints.code_version([source])
    source.write_text('"""Other words."""\ndef f( x ):\n    # a comment\n    return (x + 1)\n')
    assert checkpoints.code_version([source]) == before  # docstrings, comments and formatting do not count
    source.write_text("def f(x):\n    return x + 2\n")
    assert checkpoints.code_version([source]) != before  # code does
    assert len(checkpoints.code_version()) == 12  # the default: models.py, training.py, data.py, baselines.py


def test_key_covers_code_and_torch_version(tmp_path, monkeypatch):
    cfg = {"lr": 0.1, "seed": 0}
    key = checkpoints.cache_key(cfg)
    assert key == {"config": cfg, "code_version": checkpoints.code_version(), "torch": torch.__version__}
    path = checkpoints.checkpoint_path("toy", cfg, tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(torch, "__version__", "0.0.1")
        assert checkpoints.checkpoint_path("toy", cfg, tmp_path) != path
    monkeypatch.setattr(checkpoints, "code_version", lambda files=checkpoints.TRAINING_CODE: "changedcode0")
    assert checkpoints.checkpoint_path("toy", cfg, tmp_path) != path


def test_other_code_retrains_and_keeps_the_old_checkpoint(tmp_course_dirs, monkeypatch):
    calls, cfg = [], {"lr": 0.1}
    build = lambda: models.build_model("simple_cnn")  # noqa: E731
    _, meta1 = checkpoints.cached_model("toy", cfg, build, _set_bias(0.5, calls))
    with monkeypatch.context() as patch:  # other training code
        patch.setattr(checkpoints, "code_version", lambda files=checkpoints.TRAINING_CODE: "changedcode0")
        model2, meta2 = checkpoints.cached_model("toy", cfg, build, _set_bias(0.25, calls))
    assert calls == [0.5, 0.25] and meta2["trained_now"] and meta2["saved_to"] != meta1["saved_to"]
    assert torch.all(model2.fc2.bias == 0.25)
    stored = checkpoints.load_checkpoint(meta2["saved_to"])
    assert stored["key"] == {"config": cfg, "code_version": "changedcode0", "torch": torch.__version__}
    assert stored["config"] == cfg and stored["meta"] == {"test_accuracy": 0.25}
    model1, meta3 = checkpoints.cached_model("toy", cfg, build, _set_bias(0.75, calls))
    assert calls == [0.5, 0.25] and meta3["loaded_from"] == meta1["saved_to"] and torch.all(model1.fc2.bias == 0.5)
    assert meta3["key"]["code_version"] == checkpoints.code_version()


def test_unloadable_file_is_reported_not_overwritten(tmp_course_dirs):
    calls, cfg = [], {"lr": 0.1}
    build = lambda: models.build_model("simple_cnn")  # noqa: E731
    path = checkpoints.checkpoint_path("toy", cfg)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="left untouched"):
        checkpoints.cached_model("toy", cfg, build, _set_bias(0.5, calls))
    assert path.read_bytes() == b"not a checkpoint" and calls == []
    checkpoints.save_atomic({"state_dict": {"w": torch.ones(2)}}, path)  # loads, but is not this model's
    with pytest.raises(RuntimeError, match="(?s)does not fit the SimpleCNN.*left untouched"):
        checkpoints.cached_model("toy", cfg, build, _set_bias(0.5, calls))
    assert torch.equal(checkpoints.load_checkpoint(path)["state_dict"]["w"], torch.ones(2)) and calls == []


def test_a_file_that_appears_while_training_is_kept(tmp_course_dirs):
    cfg, build = {"lr": 0.1}, lambda: models.build_model("simple_cnn")
    path = checkpoints.checkpoint_path("toy", cfg)

    def train(model):  # a parallel run saves the same key meanwhile
        checkpoints.save_atomic({"state_dict": {"w": torch.ones(2)}}, path)
        return {}

    with pytest.warns(UserWarning, match="appeared while training"):
        _, meta = checkpoints.cached_model("toy", cfg, build, train)
    assert meta["saved_to"] != str(path) and meta["saved_to"].endswith(".pt")
    assert torch.equal(checkpoints.load_checkpoint(path)["state_dict"]["w"], torch.ones(2))
    assert "fc2.bias" in checkpoints.load_checkpoint(meta["saved_to"])["state_dict"]
