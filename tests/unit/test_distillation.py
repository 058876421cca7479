"""Tests for course_utils.distillation: hooks record the right tensors, keep gradients and clean up."""

import pytest
import torch
from torch import nn

from course_utils import distillation, models
from course_utils.data import ImageData
from course_utils.distillation import FeatureRecorder, TeacherMemo


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


class _CountingTeacher(nn.Module):
    """A frozen linear 'teacher' that counts the examples it is run on."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.shape[0]
        return self.fc(x)


def test_teacher_memo_returns_the_teacher_output_and_runs_it_once_per_example():
    teacher = _CountingTeacher().eval()
    memo = TeacherMemo(teacher)
    x = torch.randn(6, 4)
    with torch.no_grad():
        expected = teacher(x)
    teacher.seen = 0
    first = memo(x)
    assert torch.allclose(first, expected) and teacher.seen == 6 and len(memo) == 6
    shuffled = memo(x[[5, 3, 1, 0, 2, 4]])  # a new batch order, as in the next epoch: nothing runs
    assert torch.equal(shuffled, first[[5, 3, 1, 0, 2, 4]]) and teacher.seen == 6
    assert (memo.hits, memo.misses) == (6, 6)
    assert not first.requires_grad


def test_teacher_memo_computes_changed_inputs_afresh():
    teacher = _CountingTeacher().eval()
    memo = TeacherMemo(teacher)
    x = torch.randn(4, 4)
    memo(x)
    changed = x.clone()
    changed[2, 1] = torch.nextafter(changed[2, 1], torch.tensor(float("inf")))  # one bit of one example
    out = memo(changed)
    assert teacher.seen == 5, "only the changed example runs again"
    with torch.no_grad():
        assert torch.allclose(out, teacher.fc(changed))
    assert len(memo) == 5


def test_teacher_memo_handles_lists_of_outputs_and_a_full_store():
    def two_outputs(x: torch.Tensor) -> list[torch.Tensor]:
        return [x.sum(1), x * 2]

    memo = TeacherMemo(two_outputs, max_examples=2)
    x = torch.randn(3, 4)
    sums, doubled = memo(x)
    assert torch.allclose(sums, x.sum(1)) and torch.allclose(doubled, 2 * x)
    assert len(memo) == 2, "a full memo stops storing but still returns correct outputs"
    again = memo(x)
    assert isinstance(again, list) and torch.allclose(again[1], 2 * x) and memo.misses == 4


def test_teacher_memo_rejects_bad_use():
    with pytest.raises(TypeError, match="callable"):
        TeacherMemo(3)
    with pytest.raises(ValueError, match="max_examples"):
        TeacherMemo(torch.relu, max_examples=-1)
    with pytest.raises(ValueError, match="one row per example"):
        TeacherMemo(lambda x: x.sum())(torch.randn(3, 4))
    with pytest.raises(ValueError, match="non-empty batch"):
        TeacherMemo(torch.relu)(torch.randn(0, 4))


def test_teacher_memo_keys_see_shape_and_dtype():
    x = torch.zeros(1, 4)
    keys = {TeacherMemo.keys(x)[0], TeacherMemo.keys(x.view(1, 2, 2))[0], TeacherMemo.keys(x.double())[0]}
    assert len(keys) == 3


def _toy_images(per_class: int = 5, classes: int = 3) -> ImageData:
    labels = torch.arange(classes).repeat_interleave(per_class)
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    return ImageData("toy", images, labels, tuple(str(c) for c in range(classes)), (0.0,), (1.0,))


def test_holdout_split_is_stratified_disjoint_complete_and_seeded():
    data = _toy_images()
    rest, held = distillation.holdout_split(data, 2, seed=0)
    assert torch.bincount(held.labels).tolist() == [2, 2, 2] and torch.bincount(rest.labels).tolist() == [3, 3, 3]
    ids_rest, ids_held = set(rest.images[:, 0, 0, 0].tolist()), set(held.images[:, 0, 0, 0].tolist())
    assert not ids_rest & ids_held and len(ids_rest | ids_held) == len(data)
    again_rest, _ = distillation.holdout_split(data, 2, seed=0)
    assert torch.equal(again_rest.images, rest.images)
    other = {tuple(distillation.holdout_split(data, 2, seed=s)[1].images[:, 0, 0, 0].tolist()) for s in range(5)}
    assert len(other) > 1, "different seeds hold out different images"
    with pytest.raises(ValueError, match="fewer than"):
        distillation.holdout_split(data, 6)


def test_kd_loss_matches_kl_div_and_kd_step_uses_the_teacher():
    import torch.nn.functional as F

    from course_utils.distillation import kd_loss, kd_step

    g = torch.Generator().manual_seed(0)
    student = (3 * torch.randn(8, 10, generator=g, dtype=torch.float64)).requires_grad_()
    teacher = 3 * torch.randn(8, 10, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 10, (8,), generator=g)
    for t, a in ((1.0, 0.0), (4.0, 0.5), (20.0, 1.0)):
        library = a * t**2 * F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1), reduction="batchmean")
        library = library + (1 - a) * F.cross_entropy(student, labels)
        assert abs(kd_loss(student, teacher, labels, t, a).item() - library.item()) < 1e-10
    net = torch.nn.Linear(10, 10).double()
    x = torch.randn(8, 10, generator=g, dtype=torch.float64)
    loss, logits = kd_step(lambda _: teacher, 4.0, 1.0)(net, x, labels)
    assert torch.allclose(loss, kd_loss(net(x), teacher, labels, 4.0, 1.0)) and logits.shape == (8, 10)
