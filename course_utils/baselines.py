"""The trained baselines every notebook builds on, trained once per (model, mode) and then loaded.

| baseline | quick mode | full mode |
|---|---|---|
| ``simple_cnn_mnist`` | 1 epoch on all 60,000 images | 8 epochs |
| ``lenet5_mnist`` | 1 epoch | 8 epochs |
| ``lenet5_caffe_mnist`` | 1 epoch | 10 epochs |
| ``tiny_vit_mnist`` | 1 epoch (architecture in ``vit.py``) | 15 epochs |
| ``resnet20_cifar10`` | 3 epochs on a 10,000-image stratified subset | 10 epochs, crop+flip augmentation |
| ``cnn_cifar5_source`` | 1 epoch on the 25,000 images of CIFAR-10 classes 0-4 | 20 epochs, crop+flip |

Full mode is what a learner's Run All gives, so its recipes fit the course's full-mode budget (two hours on two
cores). A baseline with a paper's recipe (``BaselineSpec.paper``; ResNet-20: He et al.'s 164 epochs) trains with
it only when ``COURSE_PAPER_SCALE=1`` asks, in full mode; before any baseline trains, its estimated time on this
machine is printed (:func:`training.estimate_seconds`), so a learner sees the cost before paying it.

Test accuracy is measured on the full test set in full mode and on a stratified subset of 2,000
images in quick mode (stated in the returned info).

Checkpoints are keyed by ``checkpoints.cache_key``: this config (model, data set, subset, mode, seed,
training arguments) plus the code of ``models.py``, ``training.py``, ``data.py`` and this module, and the
torch version. The initial weights come from ``torch.manual_seed(seed)`` just before the model is built,
so a baseline's weights depend on its key alone, not on what ran earlier in the same process.
``train_all`` loads or trains every baseline up front (the runner's first step).

Training saves its state after every epoch next to the checkpoint (``<name>-<hash>.resume``), so a
full-mode baseline interrupted by a crash, a kernel restart or Ctrl-C continues where it stopped the
next time it is asked for (see ``training.fit``'s ``resume_file``); the file is deleted once the checkpoint is saved.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import checkpoints, config, training
from .data import ImageData, load_dataset
from .transfer import select_classes

QUICK_TEST_PER_CLASS = 200  # 2,000 test images in quick mode


@dataclass(frozen=True)
class BaselineSpec:
    """A baseline: its architecture, data set, training arguments per mode, and where its code lives.

    ``module`` names the ``course_utils`` module whose ``build_model(name)`` builds the architecture;
    its code keys the checkpoint together with ``checkpoints.TRAINING_CODE``, so editing one
    architecture module retrains only the baselines built from it (and ``models.py`` all of them).
    """

    model: str
    dataset: str
    quick: dict[str, Any]
    full: dict[str, Any]
    module: str = "models"
    paper: dict[str, Any] | None = None  # the paper's recipe, trained in full mode when COURSE_PAPER_SCALE=1
    paper_source: str = ""

    @property
    def code(self) -> tuple[str, ...]:
        """The source files whose code decides this baseline's weights."""
        extra = () if self.module == "models" else (f"{self.module}.py",)
        return (*checkpoints.TRAINING_CODE, *extra)

    def build(self) -> nn.Module:
        """A freshly initialised model of this architecture."""
        return importlib.import_module(f"{__package__}.{self.module}").build_model(self.model)


_MNIST_QUICK = {"epochs": 1, "lr": 3e-3, "batch_size": 64, "optimizer": "adam"}
BASELINES: dict[str, BaselineSpec] = {
    "simple_cnn_mnist": BaselineSpec("simple_cnn", "mnist", _MNIST_QUICK, {**_MNIST_QUICK, "epochs": 8}),
    "lenet5_mnist": BaselineSpec("lenet5", "mnist", _MNIST_QUICK, {**_MNIST_QUICK, "epochs": 8}),
    "tiny_vit_mnist": BaselineSpec("tiny_vit", "mnist", _MNIST_QUICK, {**_MNIST_QUICK, "epochs": 15}, module="vit"),
    "lenet5_caffe_mnist": BaselineSpec(
        "lenet5_caffe", "mnist", {**_MNIST_QUICK, "lr": 1e-3}, {**_MNIST_QUICK, "lr": 1e-3, "epochs": 10}
    ),
    "resnet20_cifar10": BaselineSpec(
        "resnet20",
        "cifar10",
        {"epochs": 3, "lr": 0.1, "batch_size": 128, "optimizer": "sgd", "weight_decay": 5e-4,
         "augment": False, "train_per_class": 1000},
        {"epochs": 10, "lr": 0.1, "batch_size": 128, "optimizer": "sgd", "weight_decay": 5e-4, "augment": True},
        paper={"epochs": 164, "lr": 0.1, "batch_size": 128, "optimizer": "sgd", "weight_decay": 1e-4, "augment": True},
        paper_source="He et al. 2016, section 4.2: 64k iterations of batch 128 (164 epochs), weight decay 1e-4; "
                     "here with a one-cycle schedule instead of step decay",
    ),  # fmt: skip
    "cnn_cifar5_source": BaselineSpec(  # notebook 12's source model: CIFAR-10 classes 0-4 only, relabelled 0..4
        "transfer_cnn",
        "cifar10",
        {"epochs": 1, "lr": 3e-3, "batch_size": 64, "optimizer": "adam", "classes": [0, 1, 2, 3, 4]},
        {"epochs": 20, "lr": 3e-3, "batch_size": 64, "optimizer": "adam", "augment": True, "classes": [0, 1, 2, 3, 4]},
        module="transfer",
    ),  # fmt: skip
}


def recipe_name(name: str, quick: bool) -> str:
    """``'quick'``, ``'full'`` or ``'paper'``: the recipe ``name`` trains with in this mode and environment."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; expected one of {sorted(BASELINES)}")
    if quick:
        return "quick"
    return "paper" if config.paper_scale() and BASELINES[name].paper is not None else "full"


def baseline_config(name: str, quick: bool, seed: int = 0) -> dict[str, Any]:
    """The full training config of a baseline (with the code and torch version, what its checkpoint is keyed by)."""
    recipe = recipe_name(name, quick)
    spec = BASELINES[name]
    arguments = {"quick": spec.quick, "full": spec.full, "paper": spec.paper}[recipe]
    return {"model": spec.model, "dataset": spec.dataset, "quick": quick, "seed": seed, **arguments,
            **({"recipe": "paper"} if recipe == "paper" else {})}  # fmt: skip


def train_split(name: str, quick: bool, seed: int = 0) -> ImageData:
    """The training images a baseline is trained on in this mode."""
    cfg = baseline_config(name, quick, seed)
    data = load_dataset(cfg["dataset"], train=True)
    if cfg.get("classes") is not None:
        data = select_classes(data, cfg["classes"])
    per_class = cfg.get("train_per_class")
    return data.stratified(per_class, seed) if per_class else data


def test_split(dataset: str, quick: bool, seed: int = 0, classes: list[int] | None = None) -> ImageData:
    """The test images: all of them in full mode, a stratified 200 per class in quick mode (``classes``: only those)."""
    data = load_dataset(dataset, train=False)
    if classes is not None:
        data = select_classes(data, classes)
    return data.stratified(QUICK_TEST_PER_CLASS, seed) if quick else data


def load_baseline(
    name: str,
    quick: bool,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, info)``: the cached baseline, trained now if no checkpoint exists yet.

    ``info`` holds ``test_accuracy``, ``test_images``, ``train_seconds``, ``history``, the config, the
    checkpoint ``key`` (config, code version, torch version) and ``loaded_from`` or ``trained_now``.
    ``train_seconds`` adds up the training epochs, those of an interrupted earlier call included.
    """
    cfg = baseline_config(name, quick, seed)
    fit_args = {k: v for k, v in cfg.items()
                if k not in {"model", "dataset", "quick", "seed", "train_per_class", "classes", "recipe"}}  # fmt: skip

    spec = BASELINES[name]
    resume_file = checkpoints.checkpoint_path(name, cfg, code=spec.code).with_suffix(".resume")

    def train(model: nn.Module) -> dict[str, Any]:
        train_data = train_split(name, quick, seed)
        test_data = test_split(cfg["dataset"], quick, seed, classes=cfg.get("classes"))
        if progress:
            _announce(name, quick, model, train_data, fit_args, device)
        history = training.fit(model, train_data, seed=seed, device=device, progress=progress,
                               resume_file=resume_file, **fit_args)  # fmt: skip
        accuracy = training.evaluate(model, test_data, device=device)
        return {"test_accuracy": accuracy, "test_images": len(test_data), "train_images": len(train_data),
                "train_seconds": sum(history.seconds), "history": history.as_dict(),
                "device": torch.device(device).type}  # fmt: skip

    def build() -> nn.Module:
        torch.manual_seed(seed)  # the initial weights: the same for this key whatever the process did before
        return spec.build()

    model, info = checkpoints.cached_model(name, cfg, build, train, code=spec.code)
    resume_file.unlink(missing_ok=True)  # the checkpoint is saved: the per-epoch state is no longer needed
    return model.to(device).eval(), {**info, "config": cfg}


def _announce(name: str, quick: bool, model: nn.Module, train_data: ImageData, fit_args: dict[str, Any],
              device: torch.device | str) -> None:  # fmt: skip
    """Print what is about to train and how long it will take here, before it starts."""
    arguments = {k: v for k, v in fit_args.items() if k in {"epochs", "batch_size", "lr", "optimizer", "weight_decay",
                                                             "augment"}}  # fmt: skip
    seconds = training.estimate_seconds(model, train_data, device=device, **arguments)
    recipe = recipe_name(name, quick)
    spec = BASELINES[name]
    why = {"paper": f"the paper's recipe ({spec.paper_source})", "quick": "quick mode",
           "full": "full mode, the course's shorter recipe" if spec.paper else "full mode"}[recipe]
    print(f"{name}: training {fit_args['epochs']} epoch(s) on {len(train_data):,} images, {why}: about "
          f"{_duration(seconds)} on this machine (estimated from a few timed steps)", flush=True)
    if recipe == "full" and spec.paper:  # the cost of the other choice, scaled by its number of epochs
        paper_seconds = seconds * spec.paper["epochs"] / fit_args["epochs"]
        print(f"{name}: COURSE_PAPER_SCALE=1 would train the paper's {spec.paper['epochs']} epochs instead: about "
              f"{_duration(paper_seconds)}", flush=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def train_all(quick: bool, seed: int = 0, names: list[str] | None = None, progress: bool = True, *,
              device: torch.device | str | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Load or train every baseline in ``BASELINES`` (or ``names``); ``{name: info}`` in that order.

    Each ``info`` is ``load_baseline``'s without the model, with ``trained_now`` (True or False) and
    ``seconds`` (wall time of this load or training). ``device=None``: ``config.pick_device()``.
    ``progress`` shows training progress bars and prints one line per baseline.
    """
    names = list(BASELINES) if names is None else list(names)
    for name in names:
        baseline_config(name, quick, seed)  # unknown names fail before anything trains
    device = config.pick_device() if device is None else device
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        start = time.perf_counter()
        _, info = load_baseline(name, quick, seed=seed, device=device, progress=progress)
        info = {**info, "trained_now": bool(info.get("trained_now")), "seconds": time.perf_counter() - start}
        results[name] = info
        if progress:
            how = f"trained on {info.get('device', 'an unrecorded device')}" if info["trained_now"] else "loaded"
            print(f"{name}: {how} in {info['seconds']:.1f} s, test accuracy {info['test_accuracy']:.2%} "
                  f"on {info['test_images']} images", flush=True)  # fmt: skip
    return results
