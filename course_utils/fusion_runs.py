"""What notebooks 10 and 11 share beyond the layers: the course's AV-MNIST split, models trained once, their scores.

Notebook 10 builds AV-MNIST and trains the single-modality and concatenation models; notebook 11 compares graph
fusion with exactly those. So the split's definition lives here once (:func:`course_av_mnist`), and a model
trained through :func:`trained` is saved under a key of everything that decides its weights (split, seed,
epochs, learning rate, code), so notebook 11 loads what notebook 10 trained instead of training it again.

    av, mnist_test = fusion_runs.course_av_mnist(SEED, QUICK)
    model, run = fusion_runs.trained("image only", lambda: fusion.Unimodal("image"), av, epochs=4, lr=3e-3, seed=0)
    val_accuracy, test_correct = fusion_runs.scores({"image only": model}, av)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from . import avmnist, checkpoints, data, fusion

PCA_COMPONENTS = 8  # image degradation: the top 8 principal components of MNIST (fixed in advance)
SNR_DB = 0.0  # audio degradation: white noise as loud as the speech
PAIRS_PER_CLASS = {True: (400, 100, 300), False: (None, 500, None)}  # quick / full: train, val, test (None: all)
CODE = (*checkpoints.TRAINING_CODE, "fusion.py", "avmnist.py", "audio.py", "fusion_runs.py")


def course_av_mnist(seed: int, quick: bool, *, pca_components: int = PCA_COMPONENTS,
                    snr_db: float = SNR_DB) -> tuple[avmnist.AVMnist, data.ImageData]:  # fmt: skip
    """The course's AV-MNIST for this seed and mode, and the MNIST test images it draws from (for showing them)."""
    train_per_class, val_per_class, test_per_class = PAIRS_PER_CLASS[quick]
    fsdd = avmnist.load_fsdd(avmnist.FeatureParams(snr_db=snr_db, noise_seed=0))
    mnist_train, mnist_test = data.load_mnist(train=True), data.load_mnist(train=False)
    av = avmnist.build_av_mnist(mnist_train, mnist_test, fsdd, seed=seed, pca_components=pca_components,
                                val_per_class=val_per_class, train_per_class=train_per_class,
                                test_per_class=test_per_class)  # fmt: skip
    av.key = {"seed": seed, "quick": quick, "pca_components": pca_components, "snr_db": snr_db}  # for trained()
    return av, mnist_test


def trained(name: str, build: Callable[[], nn.Module], av: avmnist.AVMnist, *, epochs: int, lr: float, seed: int,
            device: torch.device | str = "cpu", modality_dropout: float = 0.0) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
    """``(model, run)``: the model ``build()`` makes (after ``torch.manual_seed(seed)``), trained on ``av.train``
    with :func:`course_utils.fusion.fit_paired`, or loaded when the same training ran before.

    ``run`` holds ``history`` (per-epoch figures), ``seconds`` (of the training, also when loaded) and
    ``trained_now``. The checkpoint is keyed by ``name``, the split (:func:`course_av_mnist`'s key), the training
    arguments and the code that decides the weights.
    """
    key = av.key
    if key is None:
        raise ValueError("av must come from course_av_mnist() (it carries the key its models are cached by)")
    def build_seeded() -> nn.Module:
        torch.manual_seed(seed)
        return build()

    fresh = build_seeded()  # its class and shapes are part of the key: another architecture is another model
    cfg = {"model": name, "class": type(fresh).__qualname__, "shapes": {k: list(v.shape) for k, v in fresh.state_dict().items()},
           "split": key, "epochs": epochs, "lr": lr, "seed": seed, "modality_dropout": modality_dropout}  # fmt: skip

    def train(model: nn.Module) -> dict[str, Any]:
        history = fusion.fit_paired(model, av.train, epochs=epochs, lr=lr, seed=seed, val=av.val, device=device,
                                    modality_dropout=modality_dropout)  # fmt: skip
        return {"history": history.as_dict(), "seconds": sum(history.seconds)}

    slug = "".join(c if c.isalnum() else "_" for c in name)
    model, meta = checkpoints.cached_model(f"fusion_{slug}", cfg, build_seeded, train, code=CODE)
    return model.to(device), {"history": meta["history"], "seconds": meta["seconds"],
                              "trained_now": bool(meta.get("trained_now"))}  # fmt: skip


def scores(models: Mapping[str, nn.Module], av: avmnist.AVMnist) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """``(validation accuracy, per-test-pair correctness as 0/1 float64)`` of every model."""
    val_accuracy = {name: fusion.evaluate_paired(model, av.val) for name, model in models.items()}
    test_correct = {name: (fusion.predict_paired(model, av.test).argmax(1) == av.test.labels).double()
                    for name, model in models.items()}  # fmt: skip
    return val_accuracy, test_correct


def accuracy_figure(test_correct: Mapping[str, torch.Tensor], colours: Mapping[str, str], title: str) -> Figure:
    """A bar per model: its test accuracy in %, coloured by kind (e.g. grey for a single modality)."""
    import matplotlib.pyplot as plt

    names = list(test_correct)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names)), 3.2))
    ax.bar(range(len(names)), [100 * test_correct[n].mean().item() for n in names],
           color=[colours.get(n, "tab:blue") for n in names])  # fmt: skip
    ax.set(xticks=range(len(names)), ylabel="test accuracy (%)", ylim=(0, 100), title=title)
    ax.set_xticklabels(names, rotation=20)
    fig.tight_layout()
    return fig
