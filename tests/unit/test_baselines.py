import pytest

from course_utils import baselines


def test_configs_differ_by_mode_and_seed():
    quick = baselines.baseline_config("resnet20_cifar10", quick=True)
    full = baselines.baseline_config("resnet20_cifar10", quick=False)
    assert quick["epochs"] < full["epochs"] and quick["train_per_class"] == 1000
    assert baselines.baseline_config("simple_cnn_mnist", True, seed=1)["seed"] == 1


def test_unknown_baseline():
    with pytest.raises(ValueError, match="unknown baseline 'vgg_imagenet'"):
        baselines.baseline_config("vgg_imagenet", quick=True)


def test_quick_baseline_trains_then_loads(tmp_course_dirs):
    model, info = baselines.load_baseline("simple_cnn_mnist", quick=True, progress=False)
    assert info["trained_now"] and info["test_images"] == 2000 and info["train_images"] == 60_000
    assert info["test_accuracy"] >= 0.97  # 1 epoch on real MNIST
    again, info2 = baselines.load_baseline("simple_cnn_mnist", quick=True, progress=False)
    assert "loaded_from" in info2 and info2["test_accuracy"] == info["test_accuracy"]
