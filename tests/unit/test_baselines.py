from pathlib import Path

import pytest
import torch

from course_utils import baselines, checkpoints, config, data, models, training


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


def _toy_dataset(name, train=True):
    labels = torch.arange(60) % 10
    images = torch.randint(0, 255, (60, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(int(train)))
    return data.ImageData(name, images, labels, tuple(map(str, range(10))), (0.1,), (0.3,))


@pytest.fixture
def tiny_baselines(tmp_course_dirs, monkeypatch):
    """Two 1-epoch baselines on 40 toy images: no real data set, no real training."""
    spec = {"epochs": 1, "lr": 1e-3, "batch_size": 20, "optimizer": "adam", "train_per_class": 4}
    monkeypatch.setattr(baselines, "BASELINES", {
        "tiny_cnn": baselines.BaselineSpec("simple_cnn", "mnist", spec, {**spec, "epochs": 2}),
        "tiny_lenet": baselines.BaselineSpec("lenet5", "mnist", spec, {**spec, "epochs": 2}),
    })  # fmt: skip
    monkeypatch.setattr(baselines, "load_dataset", _toy_dataset)
    monkeypatch.setattr(baselines, "QUICK_TEST_PER_CLASS", 3)
    return tmp_course_dirs


def test_train_all_trains_then_loads_every_baseline(tiny_baselines, capsys):
    first = baselines.train_all(quick=True, device="cpu")
    assert list(first) == ["tiny_cnn", "tiny_lenet"]
    assert all(info["trained_now"] and info["seconds"] >= 0 and info["train_images"] == 40 for info in first.values())
    assert all(info["test_images"] == 30 and info["device"] == "cpu" for info in first.values())
    assert "tiny_cnn: trained on cpu" in capsys.readouterr().out
    again = baselines.train_all(quick=True, names=["tiny_lenet"], progress=False, device="cpu")
    assert list(again) == ["tiny_lenet"] and not again["tiny_lenet"]["trained_now"]
    assert again["tiny_lenet"]["loaded_from"] == first["tiny_lenet"]["saved_to"]
    assert again["tiny_lenet"]["test_accuracy"] == first["tiny_lenet"]["test_accuracy"]
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="unknown baseline 'nope'"):
        baselines.train_all(quick=True, names=["tiny_cnn", "nope"], device="cpu")


def test_baseline_checkpoint_is_keyed_by_code_and_torch(tiny_baselines, monkeypatch):
    _, info = baselines.load_baseline("tiny_cnn", quick=True, progress=False)
    assert info["key"] == {"config": info["config"], "code_version": checkpoints.code_version(),
                           "torch": str(torch.__version__)}  # fmt: skip
    assert checkpoints.load_checkpoint(info["saved_to"])["key"] == info["key"]
    monkeypatch.setattr(checkpoints, "code_version", lambda files=checkpoints.TRAINING_CODE: "changedcode0")
    _, retrained = baselines.load_baseline("tiny_cnn", quick=True, progress=False)
    assert retrained["trained_now"] and retrained["saved_to"] != info["saved_to"]


def test_an_interrupted_baseline_resumes_and_its_resume_file_goes_once_saved(tiny_baselines, crash_in_epoch):
    spec = baselines.BASELINES["tiny_cnn"]
    baselines.BASELINES["tiny_cnn"] = baselines.BaselineSpec("simple_cnn", "mnist", spec.quick,
                                                             {**spec.full, "batch_size": 8})  # 5 batches an epoch
    resume = checkpoints.checkpoint_path("tiny_cnn", baselines.baseline_config("tiny_cnn", False)).with_suffix(".resume")
    with pytest.raises(crash_in_epoch(2)):
        baselines.load_baseline("tiny_cnn", quick=False, progress=False)
    assert resume.is_file(), "epoch 1 was saved before the crash in epoch 2"
    resumed, info = baselines.load_baseline("tiny_cnn", quick=False, progress=False)
    assert info["trained_now"] and len(info["history"]["train_loss"]) == 2
    assert not resume.exists(), "the resume file is deleted once the checkpoint is saved"
    assert info["train_seconds"] == pytest.approx(sum(info["history"]["seconds"]))
    Path(info["saved_to"]).unlink()  # train it again, uninterrupted: the same weights
    straight, again = baselines.load_baseline("tiny_cnn", quick=False, progress=False)
    assert again["trained_now"] and again["history"]["train_loss"] == info["history"]["train_loss"]
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), straight.state_dict().values(), strict=True))


def test_a_baselines_weights_depend_on_its_key_not_on_what_ran_before(tiny_baselines):
    torch.manual_seed(7)
    first, info = baselines.load_baseline("tiny_cnn", quick=True, progress=False)
    Path(info["saved_to"]).unlink()
    torch.rand(1000)  # a notebook that drew random numbers (or built another model) before asking for it
    second, again = baselines.load_baseline("tiny_cnn", quick=True, progress=False)
    assert again["trained_now"]
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True))


def test_paper_recipe_only_when_asked_and_only_in_full_mode(monkeypatch):
    monkeypatch.delenv(config.PAPER_SCALE_ENV, raising=False)
    full = baselines.baseline_config("resnet20_cifar10", quick=False)
    assert baselines.recipe_name("resnet20_cifar10", quick=False) == "full" and "recipe" not in full
    monkeypatch.setenv(config.PAPER_SCALE_ENV, "1")
    paper = baselines.baseline_config("resnet20_cifar10", quick=False)
    assert paper["recipe"] == "paper" and paper["epochs"] == 164 and paper["epochs"] > full["epochs"]
    assert baselines.recipe_name("resnet20_cifar10", quick=True) == "quick", "quick mode never trains for hours"
    assert baselines.recipe_name("lenet5_mnist", quick=False) == "full", "no paper recipe: the full one"
    monkeypatch.setenv(config.PAPER_SCALE_ENV, "maybe")
    with pytest.raises(ValueError, match="maybe"):
        baselines.recipe_name("resnet20_cifar10", quick=False)


def test_training_time_is_announced_before_training(tmp_course_dirs, capsys, monkeypatch):
    """A learner sees what a baseline will cost on this machine before it starts."""
    toy = data.ImageData("toy", torch.zeros(20, 3, 32, 32, dtype=torch.uint8), torch.arange(20) % 10,
                         tuple(map(str, range(10))), (0.5,) * 3, (0.3,) * 3)  # fmt: skip
    calls = []
    monkeypatch.setattr(training, "fit", lambda *a, **k: calls.append("fit") or training.History([1.0], [0.1], [], [0.5]))
    monkeypatch.setattr(training, "estimate_seconds", lambda *a, **k: calls.append("estimate") or 4000.0)
    monkeypatch.setattr(baselines, "train_split", lambda *a, **k: toy)
    monkeypatch.setattr(baselines, "test_split", lambda *a, **k: toy)
    monkeypatch.delenv(config.PAPER_SCALE_ENV, raising=False)
    baselines.load_baseline("resnet20_cifar10", quick=False)
    assert calls == ["estimate", "fit"]
    out = capsys.readouterr().out
    assert "training 10 epoch(s)" in out and "about 67 min on this machine" in out
    # the other choice's cost is its own: 164 epochs at the same rate, not the shorter recipe's time
    assert "COURSE_PAPER_SCALE=1 would train the paper's 164 epochs instead: about 18.2 h" in out


def test_estimate_seconds_scales_with_epochs_and_leaves_the_model_alone():
    toy = data.ImageData("toy", torch.zeros(64, 1, 28, 28, dtype=torch.uint8), torch.arange(64) % 10,
                         tuple(map(str, range(10))), (0.1,), (0.3,))  # fmt: skip
    model = models.build_model("simple_cnn")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    one = training.estimate_seconds(model, toy, epochs=1, batch_size=8, steps=3)
    assert one > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="steps"):
        training.estimate_seconds(model, toy, epochs=1, steps=0)
