import pytest
import torch

from course_utils import data


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


def test_corrupt_mnist_file_is_reported(tmp_course_dirs, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    raw = mirror / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_FILES:
        (raw / name).write_bytes(b"not a gzip file")
    monkeypatch.setenv("COURSE_DATASETS", str(mirror))
    # The corrupt file fails torchvision's MD5 check; with no network the re-download fails too.
    monkeypatch.setattr("torchvision.datasets.MNIST.mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(data.DatasetNotFoundError, match="MNIST"):
        data.load_mnist(train=False)


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
