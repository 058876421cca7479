import pytest
import torch
from torch import nn

from course_utils import baselines, data, models, transfer


def _toy(n_per_class=6, n_classes=10):
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    images = torch.arange(labels.numel(), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 4, 4).contiguous()
    return data.ImageData("toy", images, labels, tuple(f"c{i}" for i in range(n_classes)), (0.5,) * 3, (0.25,) * 3)


def test_select_classes_keeps_and_relabels_in_the_given_order():
    toy = _toy()
    picked = transfer.select_classes(toy, [7, 2])
    assert picked.classes == ("c7", "c2") and len(picked) == 12
    assert picked.labels.tolist() == [1] * 6 + [0] * 6  # class 7 → 0, class 2 → 1; data order is kept
    # every kept image carries its original class's pixels: image i belongs to class i // 6
    original = picked.images[:, 0, 0, 0].long() // 6
    assert torch.equal(torch.tensor([7, 2])[picked.labels], original)


def test_select_classes_rejects_bad_classes():
    toy = _toy()
    with pytest.raises(ValueError, match=r"unknown classes \[10\]"):
        transfer.select_classes(toy, [0, 10])
    with pytest.raises(ValueError, match="unknown classes"):
        transfer.select_classes(toy, [-1])
    with pytest.raises(ValueError, match="duplicates"):
        transfer.select_classes(toy, [1, 1])
    with pytest.raises(ValueError, match="empty"):
        transfer.select_classes(toy, [])


def test_label_budget_is_per_class_seeded_and_checked():
    toy = transfer.select_classes(_toy(), [3, 4, 5])
    few = transfer.label_budget(toy, 2, seed=0)
    assert torch.bincount(few.labels).tolist() == [2, 2, 2]
    assert torch.equal(few.images, transfer.label_budget(toy, 2, seed=0).images)
    assert any(not torch.equal(few.images, transfer.label_budget(toy, 2, seed=s).images) for s in (1, 2, 3))
    assert transfer.label_budget(toy, None) is toy
    with pytest.raises(ValueError, match="larger than these classes hold"):
        transfer.label_budget(toy, 7)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive int or None"):
            transfer.label_budget(toy, bad)


def test_blocks_and_freeze_first():
    net = transfer.build_model("transfer_cnn")
    parts = transfer.blocks(net)
    assert len(parts) == 4 and parts[-1] is net.fc
    assert sum(models.count_parameters(p) for p in parts) == models.count_parameters(net)
    frozen = transfer.freeze_first(net, 2)
    assert [list(b) for b in frozen] == [list(b) for b in parts[:2]]  # the same modules (slices are new Sequentials)
    assert transfer.count_trainable(net) == models.count_parameters(parts[2]) + models.count_parameters(net.fc)
    assert 0 < transfer.trainable_fraction(net) < 1
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 4\]"):
        transfer.freeze_first(net, 5)
    resnet = models.build_model("resnet8")
    assert len(transfer.blocks(resnet)) == 1 + 3 + 1  # stem, three residual blocks, head
    lenet = models.build_model("lenet5")
    transfer.freeze_first(lenet, 2)
    assert transfer.count_trainable(lenet) == 0


def test_optimizer_state_bytes_counts_adam_moments():
    net = nn.Linear(10, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    assert transfer.optimizer_state_bytes(opt) == 0  # no state before the first step
    net(torch.randn(4, 10)).sum().backward()
    opt.step()
    assert transfer.optimizer_state_bytes(opt) == 2 * 4 * (30 + 3) + 2 * 4  # two moments + a step per tensor
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        transfer.optimizer_state_bytes([1, 2])


def test_build_model_and_source_baseline_config():
    assert transfer.build_model("transfer_cnn")(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(ValueError, match="unknown transfer model"):
        transfer.build_model("resnet18")
    spec = baselines.BASELINES["cnn_cifar5_source"]
    assert spec.module == "transfer" and "transfer.py" in spec.code
    cfg = baselines.baseline_config("cnn_cifar5_source", quick=True)
    assert cfg["classes"] == list(transfer.SOURCE_CLASSES)
    assert "classes" not in baselines.baseline_config("lenet5_mnist", quick=True)  # other keys unchanged


def test_source_baseline_splits_honour_classes(monkeypatch):
    monkeypatch.setattr(baselines, "load_dataset", lambda name, train=True: _toy(n_per_class=250))
    train = baselines.train_split("cnn_cifar5_source", quick=True)
    assert train.classes == ("c0", "c1", "c2", "c3", "c4") and set(train.labels.tolist()) == {0, 1, 2, 3, 4}
    test = baselines.test_split("cifar10", quick=True, classes=[5, 6])
    assert len(test) == 2 * baselines.QUICK_TEST_PER_CLASS and test.classes == ("c5", "c6")
