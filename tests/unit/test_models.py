import pytest
import torch

from course_utils import models

EXPECTED_PARAMS = {"simple_cnn": 21_840, "lenet5": 61_706, "lenet5_caffe": 431_080, "resnet8": 78_042,
                   "resnet20": 272_474, "student_cnn": 24_346}  # fmt: skip


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_models_build_run_and_have_documented_sizes(name):
    model = models.build_model(name)
    assert models.count_parameters(model) == EXPECTED_PARAMS[name]
    out = model.eval()(models.example_input(name, 3))
    assert out.shape == (3, 10)


def test_student_is_at_least_four_times_smaller_than_resnet20():
    ratio = models.count_parameters(models.build_model("resnet20")) / models.count_parameters(
        models.build_model("student_cnn"))
    assert ratio >= 4


def test_bad_names_and_shapes():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        models.build_model("vgg")
    with pytest.raises(ValueError, match="6n\\+2"):
        models.CifarResNet(depth=21)
    with pytest.raises(ValueError, match="batch_size"):
        models.example_input("resnet20", 0)
    with pytest.raises(RuntimeError):
        models.build_model("simple_cnn")(torch.zeros(1, 3, 32, 32))  # CIFAR input into an MNIST model


def test_trainable_only_counts():
    model = models.build_model("simple_cnn")
    model.conv1.weight.requires_grad_(False)
    assert models.count_parameters(model, trainable_only=True) == 21_840 - 250
