"""Tests for course_utils.distillation: hooks record the right tensors, keep gradients and clean up."""

import math

import pytest
import torch
from torch import nn

from course_utils import distillation, models
from course_utils.distillation import FeatureRecorder


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_records_the_outputs_of_named_layers():
    net = _net()
    x = torch.randn(5, 4)
    with FeatureRecorder(net, ["0", "1"]) as recorded:
        out = net(x)
    hidden = net[0](x)
    assert torch.equal(recorded["0"], hidden)
    assert torch.equal(recorded["1"], torch.relu(hidden))
    assert torch.equal(out, net(x))
    assert list(recorded) == ["0", "1"] and len(recorded) == 2
    assert [f.shape for f in recorded.features()] == [(5, 3), (5, 3)]


def test_recorded_features_carry_gradients_to_the_model():
    net = _net()
    with FeatureRecorder(net, ["1"]) as recorded:
        net(torch.randn(5, 4))
        recorded["1"].sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    assert net[2].weight.grad is None  # the last layer did not feed the recorded feature


def test_hooks_are_removed_on_exit_even_after_an_error():
    net = _net()
    recorder = FeatureRecorder(net, ["0"])
    with pytest.raises(RuntimeError, match="boom"), recorder:
        assert recorder.active and len(net[0]._forward_hooks) == 1
        raise RuntimeError("boom")
    assert not recorder.active and len(net[0]._forward_hooks) == 0


def test_later_forward_overwrites_and_missing_layers_are_explained():
    net = _net()
    with FeatureRecorder(net, ["0", "2"]) as recorded:
        with pytest.raises(KeyError, match="has not run"):
            recorded["0"]
        net(torch.zeros(1, 4))
        first = recorded["0"]
        net(torch.ones(1, 4))
        assert not torch.equal(first, recorded["0"])
        with pytest.raises(KeyError, match="is not recorded"):
            recorded["1"]


def test_bad_names_are_rejected_with_helpful_errors():
    net = _net()
    with pytest.raises(KeyError, match="no submodule"):
        FeatureRecorder(net, ["fc9"])
    with pytest.raises(TypeError, match="single string"):
        FeatureRecorder(net, "0")
    with pytest.raises(ValueError, match="empty"):
        FeatureRecorder(net, [])
    with pytest.raises(ValueError, match="duplicates"):
        FeatureRecorder(net, ["0", "0"])
    recorder = FeatureRecorder(net, ["0"])
    with recorder, pytest.raises(RuntimeError, match="already active"):
        recorder.__enter__()


def test_student_and_resnet_stage_shapes_match_for_attention_transfer():
    student, teacher = models.build_model("student_cnn").eval(), models.build_model("resnet20").eval()
    x = models.example_input("student_cnn", 2)
    with FeatureRecorder(student, ["features.2", "features.6", "features.10"]) as s, \
            FeatureRecorder(teacher, ["layers.2", "layers.5", "layers.8"]) as t, torch.no_grad():
        student(x)
        teacher(x)
    assert [f.shape[-2:] for f in s.features()] == [f.shape[-2:] for f in t.features()]


def test_mean_and_spread():
    assert distillation.mean_and_spread([2.0]) == (2.0, 0.0)
    mean, spread = distillation.mean_and_spread([1.0, 2.0, 3.0])
    assert mean == 2.0 and math.isclose(spread, 1.0)
    with pytest.raises(ValueError, match="empty"):
        distillation.mean_and_spread([])
