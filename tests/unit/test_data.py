import errno
import hashlib
import os
import shutil
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from course_utils import config, data


def _offline(monkeypatch):
    """Make every download fail at once: torchvision's MNIST mirrors and CIFAR-10 URL point at a closed local port."""
    monkeypatch.setattr("torchvision.datasets.MNIST.mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.setattr("torchvision.datasets.CIFAR10.url", "http://127.0.0.1:9/cifar-10-python.tar.gz")


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def mnist_mirror(datasets_mirror, tmp_path):
    """A mirror holding only MNIST: the four real .gz files, copied."""
    mirror = tmp_path / "mnist_only_mirror"
    shutil.copytree(datasets_mirror / "MNIST" / "raw", mirror / "MNIST" / "raw")
    return mirror


def _idx(path, shape):
    """A valid uint8 IDX file of zeros with the given shape (what torchvision unpacks the .gz files into)."""
    header = bytes([0, 0, 0x08, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + bytes(int(torch.tensor(shape).prod())))


def test_mnist_from_mirror(datasets_mirror, tmp_course_dirs, monkeypatch):
    monkeypatch.setenv("COURSE_DATASETS", str(datasets_mirror))
    test = data.load_mnist(train=False)
    assert len(test) == 10_000 and test.images.shape[1:] == (1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert (tmp_course_dirs / "data" / "datasets" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()


def test_cifar_from_mirror_in_place(datasets_mirror, tmp_course_dirs, monkeypatch):
    monkeypatch.setenv("COURSE_DATASETS", str(datasets_mirror))
    test = data.load_cifar10(train=False)
    assert len(test) == 10_000 and test.images.shape[1:] == (3, 32, 32)
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert not (tmp_course_dirs / "data" / "datasets" / "cifar-10-batches-py").exists()


def test_missing_dataset_message_says_where_and_how(tmp_course_dirs, monkeypatch, tmp_path):
    empty = tmp_path / "empty_mirror"
    (empty / "cifar-10-batches-py").mkdir(parents=True)  # present but empty = corrupt
    monkeypatch.setenv("COURSE_DATASETS", str(empty))
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load_cifar10(train=False)
    message = str(error.value)
    assert str(empty / "cifar-10-batches-py") in message and "COURSE_DATASETS" in message


def test_corrupt_mirror_file_is_named_and_not_copied(tmp_course_dirs, monkeypatch, tmp_path):
    raw = tmp_path / "mirror" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_FILES:
        (raw / name).write_bytes(b"not a gzip file")
    monkeypatch.setenv("COURSE_DATASETS", str(tmp_path / "mirror"))
    _offline(monkeypatch)
    with pytest.raises(data.DatasetCorruptError) as error:
        data.load_mnist(train=False)
    message = str(error.value)
    assert str(raw / "train-images-idx3-ubyte.gz") in message and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message
    assert "md5sum -c MD5SUMS" in message and "COURSE_DATASETS" in message
    assert isinstance(error.value, data.DatasetNotFoundError)  # callers catching the old error still catch it
    cache_raw = tmp_course_dirs / "data" / "datasets" / "MNIST" / "raw"
    assert not list(cache_raw.glob("*.gz")) and not list(cache_raw.glob(".*"))


def test_corrupt_cifar_mirror_names_the_bad_batch(tmp_course_dirs, monkeypatch, tmp_path):
    batches = tmp_path / "mirror" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    (batches / "test_batch").write_bytes(b"truncated")
    monkeypatch.setenv("COURSE_DATASETS", str(tmp_path / "mirror"))
    with pytest.raises(data.DatasetCorruptError) as error:
        data.load_cifar10(train=False)
    message = str(error.value)
    assert f"{batches / 'test_batch'} has MD5 {hashlib.md5(b'truncated').hexdigest()}" in message
    assert f"{batches / 'batches.meta'} is missing" in message and "40351d587109b95175f43aff81a1287e" in message


def test_mirror_copy_is_checked_by_md5_and_atomic(mnist_mirror, tmp_course_dirs, monkeypatch):
    raw = tmp_course_dirs / "data" / "datasets" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    stale = raw / "t10k-labels-idx1-ubyte.gz"  # same size as the real file, wrong bytes: a size check keeps it
    stale.write_bytes(b"x" * (mnist_mirror / "MNIST" / "raw" / stale.name).stat().st_size)
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    monkeypatch.setenv("COURSE_DATASETS", str(mnist_mirror))
    _offline(monkeypatch)
    test = data.load_mnist(train=False)
    assert len(test) == 10_000
    assert _md5(stale) == "ec29112dd5afa0611ce80d1b7f02629c"
    copies = {dst.name: src for src, dst in replaced if dst.parent == raw}
    assert set(copies) == set(data.MNIST_FILES)
    assert all(src.parent == raw and src.name.startswith(".") for src in copies.values())  # temp file, same folder
    assert not list(raw.glob(".*"))


def test_interrupted_mirror_copy_leaves_nothing_and_keeps_the_os_error(datasets_mirror, tmp_course_dirs, monkeypatch):
    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    monkeypatch.setenv("COURSE_DATASETS", str(datasets_mirror))
    with pytest.raises(OSError) as error:
        data.load_mnist(train=False)
    assert type(error.value) is OSError and error.value.errno == errno.ENOSPC  # not relabelled "not found"
    assert list((tmp_course_dirs / "data" / "datasets" / "MNIST" / "raw").iterdir()) == []


def test_truncated_mnist_cache_names_the_folder_to_delete(mnist_mirror, tmp_course_dirs, monkeypatch):
    monkeypatch.setenv("COURSE_DATASETS", str(mnist_mirror))
    _offline(monkeypatch)
    data.load_mnist(train=False)
    folder = tmp_course_dirs / "data" / "datasets" / "MNIST"
    unpacked = folder / "raw" / "t10k-images-idx3-ubyte"
    unpacked.write_bytes(unpacked.read_bytes()[:100_000])  # e.g. a full disk while torchvision unpacked it
    with pytest.raises(data.DatasetCorruptError) as error:
        data.load_mnist(train=False)
    message = str(error.value)
    assert f"delete {folder} and re-run" in message
    assert f"{unpacked} is 100,000 bytes, expected 7,840,016" in message
    shutil.rmtree(folder)  # the advice works
    assert len(data.load_mnist(train=False)) == 10_000


def test_mnist_cache_of_the_wrong_shape_is_caught_after_loading(tmp_course_dirs, monkeypatch):
    monkeypatch.delenv("COURSE_DATASETS", raising=False)
    raw = tmp_course_dirs / "data" / "datasets" / "MNIST" / "raw"
    for split in ("train", "t10k"):  # readable files, so torchvision loads them without complaint
        _idx(raw / f"{split}-images-idx3-ubyte", (5, 28, 28))
        _idx(raw / f"{split}-labels-idx1-ubyte", (5,))
    with pytest.raises(data.DatasetCorruptError) as error:
        data.load_mnist(train=False)
    message = str(error.value)
    assert "torch.uint8 (5, 28, 28), expected uint8 (10000, 28, 28)" in message and "expected (10000,)" in message
    assert f"{raw / 't10k-images-idx3-ubyte.gz'} is missing" in message
    assert f"delete {raw.parent} and re-run" in message


def test_unreadable_legacy_mnist_cache_names_the_folder_to_delete(tmp_course_dirs, monkeypatch):
    monkeypatch.delenv("COURSE_DATASETS", raising=False)
    processed = tmp_course_dirs / "data" / "datasets" / "MNIST" / "processed"
    processed.mkdir(parents=True)
    for name in ("training.pt", "test.pt"):  # an old torchvision's cache, cut short
        (processed / name).write_bytes(b"\x80\x02garbage")
    with pytest.raises(data.DatasetCorruptError, match="could not read it") as error:
        data.load_mnist(train=False)
    assert f"delete {processed.parent} and re-run" in str(error.value)


@pytest.mark.parametrize("loader", ["MNIST", "CIFAR10"])
@pytest.mark.parametrize(
    "raised",
    [
        PermissionError(errno.EACCES, "Permission denied", "/data/datasets"),
        OSError(errno.ENOSPC, "No space left on device"),
        MemoryError(),
        KeyboardInterrupt(),
    ],
    ids=["permission", "disk-full", "memory", "interrupt"],
)
def test_unrelated_errors_are_not_relabelled_not_found(loader, raised, tmp_course_dirs, monkeypatch):
    def failing(*args, **kwargs):
        raise raised

    monkeypatch.delenv("COURSE_DATASETS", raising=False)
    monkeypatch.setattr(f"torchvision.datasets.{loader}", failing)
    with pytest.raises(type(raised)) as error:
        data.load_dataset(loader.lower())
    assert error.value is raised


@pytest.mark.parametrize("loader", ["MNIST", "CIFAR10"])
def test_download_failure_is_not_found(loader, tmp_course_dirs, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.delenv("COURSE_DATASETS", raising=False)
    monkeypatch.setattr(f"torchvision.datasets.{loader}", offline)
    with pytest.raises(data.DatasetNotFoundError, match="name resolution") as error:
        data.load_dataset(loader.lower())
    assert not isinstance(error.value, data.DatasetCorruptError)


def test_mirror_without_cifar_falls_back_to_the_cache(tmp_course_dirs, monkeypatch, tmp_path):
    (tmp_path / "mirror" / "MNIST" / "raw").mkdir(parents=True)
    monkeypatch.setenv("COURSE_DATASETS", str(tmp_path / "mirror"))
    assert config.datasets_mirror() == (tmp_path / "mirror").resolve()
    _offline(monkeypatch)  # so the fallback download fails fast
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load_cifar10(train=False)
    assert not isinstance(error.value, data.DatasetCorruptError)
    assert str(tmp_course_dirs / "data" / "datasets" / "cifar-10-batches-py") in str(error.value)


def _toy(n_per_class=5, classes=3):
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    images = torch.randint(0, 256, (len(labels), 1, 4, 4), dtype=torch.uint8)
    return data.ImageData("toy", images, labels, tuple(map(str, range(classes))), (0.5,), (0.25,))


def test_stratified_subset_is_balanced_and_deterministic():
    toy = _toy()
    a, b = toy.stratified(2, seed=1), toy.stratified(2, seed=1)
    assert torch.bincount(a.labels).tolist() == [2, 2, 2]
    assert torch.equal(a.images, b.images)
    with pytest.raises(ValueError, match="per_class"):
        toy.stratified(0)
    with pytest.raises(ValueError, match="fewer than per_class=6"):
        toy.stratified(6)


def test_image_data_validates():
    with pytest.raises(ValueError, match="uint8"):
        data.ImageData("bad", torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), ("a",), (0.0,), (1.0,))
    with pytest.raises(ValueError, match="labels shape"):
        data.ImageData("bad", torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3), ("a",), (0.0,), (1.0,))
    with pytest.raises(IndexError, match="subset indices"):
        _toy().subset([100])
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        data.load_dataset("imagenet")


def test_normalize_uses_mean_and_std():
    toy = _toy()
    x, _ = toy.tensors()
    expected = (toy.images.float() / 255 - 0.5) / 0.25
    assert torch.allclose(x, expected)


def test_batches_cover_everything_once_and_repeat_with_seed():
    toy = _toy(n_per_class=7)
    first = [y for _, y in data.Batches(toy, 4, shuffle=True, seed=5)]
    again = [y for _, y in data.Batches(toy, 4, shuffle=True, seed=5)]
    assert len(first) == len(data.Batches(toy, 4)) == 6
    assert sorted(torch.cat(first).tolist()) == sorted(toy.labels.tolist())
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    with pytest.raises(ValueError, match="batch_size"):
        data.Batches(toy, 0)


def test_random_crop_flip_keeps_shape_and_content():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    out = data.random_crop_flip(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    zero_pad = data.random_crop_flip(images, torch.Generator().manual_seed(0), padding=0)
    for original, augmented in zip(images, zero_pad, strict=True):
        assert torch.equal(augmented, original) or torch.equal(augmented, original.flip(2))
