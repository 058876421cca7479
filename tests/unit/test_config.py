import pytest
import torch

from course_utils import config


def test_resolve_quick_precedence(monkeypatch):
    monkeypatch.setenv(config.QUICK_ENV, "1")
    assert config.resolve_quick(None) is True
    assert config.resolve_quick(False) is False  # explicit parameter wins over the environment
    monkeypatch.setenv(config.QUICK_ENV, "0")
    assert config.resolve_quick(None) is False
    monkeypatch.delenv(config.QUICK_ENV)
    assert config.resolve_quick(None) is False  # default: full mode


def test_resolve_quick_rejects_bad_values(monkeypatch):
    with pytest.raises(TypeError, match="QUICK"):
        config.resolve_quick("yes")
    monkeypatch.setenv(config.QUICK_ENV, "maybe")
    with pytest.raises(ValueError, match="maybe"):
        config.resolve_quick(None)


def test_pick_device(monkeypatch):
    monkeypatch.delenv(config.DEVICE_ENV, raising=False)
    assert config.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="tpu"):
        config.pick_device("tpu")


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    """Device selection with the accelerators mocked, so the CUDA and MPS paths are tested on any machine."""
    monkeypatch.delenv(config.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert config.pick_device() == torch.device(expected)
    monkeypatch.setenv(config.DEVICE_ENV, "cpu")
    assert config.pick_device() == torch.device("cpu"), "COURSE_DEVICE overrides the automatic choice"


def test_pick_device_refuses_an_absent_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name in ("cuda", "mps"):
        with pytest.raises(RuntimeError, match=name):
            config.pick_device(name)


def test_seed_everything_repeats():
    config.seed_everything(3)
    a = torch.rand(3)
    config.seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError, match="-1"):
        config.seed_everything(-1)


def test_dirs_follow_environment(tmp_course_dirs):
    assert config.data_dir() == tmp_course_dirs / "data"
    assert config.output_dir() == tmp_course_dirs / "out"
    assert config.output_dir().is_dir()


def test_mirror_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv(config.DATASETS_ENV, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="nope"):
        config.datasets_mirror()


def test_mirror_must_hold_a_dataset(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    (empty / "MNIST").mkdir(parents=True)  # no raw/ inside: still no dataset
    monkeypatch.setenv(config.DATASETS_ENV, str(empty))
    with pytest.raises(FileNotFoundError, match="holds no dataset") as error:
        config.datasets_mirror()
    message = str(error.value)
    assert str(empty) in message and all(name in message for name in ("MNIST/raw/", "cifar-10-batches-py/", "fsdd/"))
    for layout in ("MNIST/raw", "cifar-10-batches-py", "fsdd"):  # one dataset is enough; the others fall back
        mirror = tmp_path / layout.split("/")[0].lower()
        (mirror / layout).mkdir(parents=True)
        monkeypatch.setenv(config.DATASETS_ENV, str(mirror))
        assert config.datasets_mirror() == mirror.resolve()


def test_environment_summary_has_versions():
    summary = config.environment_summary(torch.device("cpu"))
    assert summary["torch"] == torch.__version__ and summary["device"] == "cpu"


def test_relative_paths_are_anchored_where_the_command_started(monkeypatch, tmp_path):
    """The README's `COURSE_DATASETS=../shared/datasets make course`: kernels run in notebooks/, so the runner,
    the grader and the tests make the folder absolute against the directory they were started from."""
    start = tmp_path / "clone"
    (tmp_path / "shared" / "datasets" / "MNIST" / "raw").mkdir(parents=True)
    (start / "notebooks").mkdir(parents=True)
    monkeypatch.setenv(config.DATASETS_ENV, "../shared/datasets")
    monkeypatch.setenv(config.DATA_DIR_ENV, "cache")
    monkeypatch.setenv(config.OUTPUT_DIR_ENV, str(tmp_path / "out"))  # absolute: left as it is
    changed = config.anchor_relative_paths(start)
    assert changed == {config.DATASETS_ENV: str(tmp_path / "shared" / "datasets"), config.DATA_DIR_ENV: str(start / "cache")}
    monkeypatch.chdir(start / "notebooks")  # where a kernel runs
    assert config.datasets_mirror() == tmp_path / "shared" / "datasets"
    assert config.data_dir() == start / "cache"
    assert config.output_dir() == tmp_path / "out"
    assert config.anchor_relative_paths() == {}, "anchoring twice changes nothing"


def test_unanchored_relative_mirror_explains_the_working_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(config.DATASETS_ENV, "../no/such/datasets")
    with pytest.raises(FileNotFoundError, match="relative path is read from the current folder"):
        config.datasets_mirror()
