import pytest
import torch
import torch.nn.functional as F

from course_utils import data, models, training


def _toy(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 40, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    for i, label in enumerate(labels):  # a learnable pattern: a bright row per class
        images[i, 0, 2 * label + 3] = 255
    return data.ImageData("toy", images, labels, tuple(map(str, range(10))), (0.1,), (0.3,))


def _train(seed):
    torch.manual_seed(seed)
    model = models.build_model("simple_cnn")
    history = training.fit(model, _toy(), epochs=3, lr=3e-3, batch_size=16, seed=seed, val=_toy(seed=1),
                           progress=False)
    return model, history


def test_same_seed_same_weights_and_it_learns():
    a, history_a = _train(0)
    b, history_b = _train(0)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), f"{name} differs between two runs with the same seed"
    assert history_a.train_loss == history_b.train_loss
    assert history_a.train_loss[-1] < history_a.train_loss[0]
    assert history_a.val_accuracy[-1] > 0.5


def test_different_seed_different_weights():
    a, _ = _train(0)
    b, _ = _train(1)
    assert not torch.equal(a.fc2.weight, b.fc2.weight)


def test_evaluate_and_predict():
    model, _ = _train(0)
    toy = _toy(seed=2)
    logits = training.predict(model, toy, batch_size=7)
    assert logits.shape == (len(toy), 10)
    assert training.evaluate(model, toy) == pytest.approx((logits.argmax(1) == toy.labels).float().mean().item())


def test_custom_step_loss_and_after_step_hook():
    calls = []

    def label_smoothing(model, x, y):
        logits = model(x)
        return F.cross_entropy(logits, y, label_smoothing=0.1), logits

    model = models.build_model("simple_cnn")
    training.fit(model, _toy(), epochs=1, lr=1e-3, batch_size=32, step_loss=label_smoothing,
                 after_step=lambda m: calls.append(1), progress=False)
    assert len(calls) == 3


def test_bad_arguments():
    model = models.build_model("simple_cnn")
    with pytest.raises(ValueError, match="epochs"):
        training.fit(model, _toy(), epochs=0, lr=1e-3)
    with pytest.raises(ValueError, match="lr"):
        training.fit(model, _toy(), epochs=1, lr=-1.0)
    with pytest.raises(ValueError, match="rmsprop"):
        training.fit(model, _toy(), epochs=1, lr=1e-3, optimizer="rmsprop")
    for n, batch_size in ((40, 10), (16, 16)):  # 4 steps (OneCycleLR divides by zero), 1 step (it trains at lr 0)
        with pytest.raises(ValueError, match=f"cannot schedule 1 epoch.*= {n // batch_size} step"):
            training.fit(model, _toy(n=n), epochs=1, lr=1e-3, batch_size=batch_size)
    with pytest.raises(FloatingPointError, match="lower lr"):
        training.fit(model, _toy(), epochs=3, lr=1e30, optimizer="sgd", progress=False, schedule="constant")


class _MoveRecorder(torch.nn.Linear):
    """A linear model that records where it is asked to move (and stays put: there is only a CPU here)."""

    def __init__(self):
        super().__init__(28 * 28, 10)
        self.moves = []

    def forward(self, x):
        return super().forward(x.flatten(1))

    def to(self, *args, **kwargs):
        self.moves.append(torch.device(args[0]))
        return self


def test_predict_uses_the_models_device_and_never_leaves_it_moved(monkeypatch):
    toy = _toy(n=20)
    model = _MoveRecorder()
    training.predict(model, toy)  # device=None: the model's own device, no move at all
    training.evaluate(model, toy, device="cpu")  # same device as the model: no move either
    assert model.moves == []
    monkeypatch.setattr(training, "model_device", lambda m: torch.device("meta"))  # pretend it lives elsewhere
    training.predict(model, toy, device="cpu")
    assert model.moves == [torch.device("cpu"), torch.device("meta")]  # there and back again
    model.moves.clear()
    training.evaluate(model, toy, device=torch.device("cpu"))
    assert model.moves == [torch.device("cpu"), torch.device("meta")]


def test_predict_restores_mode_and_keeps_the_model_trainable():
    model = models.build_model("simple_cnn").train()
    training.predict(model, _toy(n=20), device="cpu")
    assert model.training and not any(p.is_inference() for p in model.parameters())
    training.fit(model, _toy(n=32), epochs=1, lr=1e-3, batch_size=16, progress=False)  # still trainable
    assert training.model_device(model) == torch.device("cpu")
    assert training.model_device(torch.nn.ReLU()) == torch.device("cpu")


def _fit_resumable(model, resume_file, **changes):
    arguments = {"epochs": 3, "lr": 3e-3, "batch_size": 16, "seed": 0, "augment": True, "progress": False, **changes}
    return training.fit(model, _toy(), resume_file=resume_file, **arguments)


def test_resume_after_a_crash_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, crash_in_epoch):
    torch.manual_seed(0)
    straight = models.build_model("simple_cnn")  # has dropout: the global RNG must be restored too
    straight_history = _fit_resumable(straight, tmp_path / "straight.resume")

    resume = tmp_path / "run.resume"
    torch.manual_seed(0)
    crashed = models.build_model("simple_cnn")
    with pytest.raises(crash_in_epoch(2)):
        _fit_resumable(crashed, resume)
    assert resume.is_file(), "the state after epoch 1 was saved before the crash"

    torch.manual_seed(123)  # a new kernel: other initial weights and another global RNG state
    resumed = models.build_model("simple_cnn")
    history = _fit_resumable(resumed, resume)
    for (name, expected), got in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(expected, got), f"{name} differs from the uninterrupted run"
    assert history.train_loss == straight_history.train_loss and len(history.seconds) == 3
    again = models.build_model("simple_cnn")
    assert _fit_resumable(again, resume).train_loss == history.train_loss  # the finished run, returned at once
    assert torch.equal(again.fc2.weight, straight.fc2.weight)


def test_resume_refuses_a_file_from_another_run_and_a_corrupt_one(tmp_path):
    resume = tmp_path / "run.resume"
    _fit_resumable(models.build_model("simple_cnn"), resume, epochs=1)
    written = resume.read_bytes()
    with pytest.raises(ValueError, match="other lr"):
        _fit_resumable(models.build_model("simple_cnn"), resume, epochs=1, lr=1e-3)
    with pytest.raises(ValueError, match="other model, shapes"):
        _fit_resumable(models.build_model("lenet5"), resume, epochs=1)
    assert resume.read_bytes() == written, "a refused file is left as it was"
    resume.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="corrupt"):
        _fit_resumable(models.build_model("simple_cnn"), resume, epochs=1)
    assert resume.read_bytes() == b"not a checkpoint"
