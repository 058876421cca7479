"""What notebooks 10 and 11 share beyond the layers: the course's AV-MNIST split, models trained once, their scores.

Notebook 10 builds AV-MNIST and trains the single-modality and concatenation models; notebook 11 compares graph
fusion with exactly those. So the split's definition lives here once (:func:`course_av_mnist`), and a model
trained through :func:`trained` is saved under a key of everything that decides its weights (split, seed,
epochs, learning rate, code), so notebook 11 loads what notebook 10 trained instead of training it again.

    av, mnist_test = fusion_runs.course_av_mnist(SEED, QUICK)
    model, run = fusion_runs.shared_model("image only", av, seed=SEED)  # the course's recipe: LR, EPOCHS[quick]
    val_accuracy, test_correct = fusion_runs.scores({"image only": model}, av)
    best = fusion_runs.best_on_validation(val_accuracy, ["image only", "audio only"])
    gain = fusion_runs.paired_gain(test_correct["both"], test_correct[best], av.test)  # pp, SE by recording

The recipe the two notebooks share (learning rate, epochs per mode, encoder width) is defined here once, and
:func:`over_seeds` re-makes chosen models on other seeds' splits for a paired comparison over seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from . import avmnist, checkpoints, data, fusion

PCA_COMPONENTS = 8  # image degradation: the top 8 principal components of MNIST (fixed in advance)
SNR_DB = 0.0  # audio degradation: white noise as loud as the speech
PAIRS_PER_CLASS = {True: (400, 100, 300), False: (None, 500, None)}  # quick / full: train, val, test (None: all)
LR = 3e-3  # Adam learning rate (one-cycle schedule) of every model of notebooks 10 and 11
EPOCHS = {True: 4, False: 12}  # epochs per model: quick mode, full mode
EMBED_DIM = 64  # width of every encoder's output vector
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


SHARED_MODELS: dict[str, Callable[[], nn.Module]] = {
    "image only": lambda: fusion.Unimodal("image", EMBED_DIM),
    "audio only": lambda: fusion.Unimodal("audio", EMBED_DIM),
    "intermediate": lambda: fusion.ConcatFusion(EMBED_DIM),
}
"""The models notebook 10 trains and notebook 11 loads, by name."""


def shared_model(name: str, av: avmnist.AVMnist, *, seed: int,
                 device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
    """``(model, run)`` of one of :data:`SHARED_MODELS`, with the course's recipe (:data:`LR`, :data:`EPOCHS` of
    ``av``'s mode): loaded when notebook 10 (or 11) trained it before on the same split and seed, else trained."""
    if name not in SHARED_MODELS:
        raise ValueError(f"unknown shared model {name!r}; expected one of {list(SHARED_MODELS)}")
    if av.key is None:
        raise ValueError("av must come from course_av_mnist() (it carries the key its models are cached by)")
    return trained(name, SHARED_MODELS[name], av, epochs=EPOCHS[bool(av.key["quick"])], lr=LR, seed=seed, device=device)


def best_on_validation(val_accuracy: Mapping[str, float], names: Iterable[str]) -> str:
    """The name among ``names`` with the highest validation accuracy (the first on a tie): chosen before any test."""
    names = list(names)
    if not names:
        raise ValueError("no candidates to choose from")
    missing = [n for n in names if n not in val_accuracy]
    if missing:
        raise KeyError(f"no validation accuracy for {missing}")
    return max(names, key=val_accuracy.__getitem__)


@dataclass(frozen=True)
class PairedGain:
    """A paired accuracy difference on one split's test pairs, in percentage points, with its standard error
    clustered by recording (:func:`course_utils.fusion.clustered_se`)."""

    pp: float
    se_pp: float
    pairs: int
    recordings: int

    @property
    def low95_pp(self) -> float:
        """The normal 95 % lower limit, gain − 1.96 SE: test-set noise only (one training seed)."""
        return self.pp - 1.96 * self.se_pp


def paired_gain(correct: torch.Tensor, reference: torch.Tensor, split: avmnist.AVSplit) -> PairedGain:
    """``correct − reference`` of two models' per-pair 0/1 correctness on the same ``split``, in pp."""
    if correct.shape != reference.shape:
        raise ValueError(f"paired correctness needs the same pairs, got shapes {tuple(correct.shape)} and "
                         f"{tuple(reference.shape)}")  # fmt: skip
    difference = correct.double() - reference.double()
    return PairedGain(100 * difference.mean().item(), 100 * fusion.clustered_se(difference, split), len(split),
                      len(set(split.recording)))  # fmt: skip


def over_seeds(make: Callable[[avmnist.AVMnist, int], Mapping[str, nn.Module]], seeds: Sequence[int], quick: bool, *,
               pca_components: int = PCA_COMPONENTS, snr_db: float = SNR_DB,
               reuse: Mapping[int, tuple[avmnist.AVMnist, Mapping[str, nn.Module]]] | None = None,
               ) -> dict[int, tuple[avmnist.AVSplit, dict[str, nn.Module]]]:  # fmt: skip
    """For each seed: the course's split of that seed and mode (:func:`course_av_mnist`) and the models
    ``make(av, seed)`` returns for it (trained or loaded; ``make`` must seed its own training).

    Returns ``{seed: (test split, models)}``: the training and validation pairs are dropped after ``make`` (in full
    mode one seed's split holds about 0.6 GB). ``reuse``: ``{seed: (av, models)}`` already made (this run's seed).
    """
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must differ, got {list(seeds)}")
    made: dict[int, tuple[avmnist.AVSplit, dict[str, nn.Module]]] = {}
    for seed in seeds:
        if reuse is not None and seed in reuse:
            av, models = reuse[seed]
        else:
            av, _ = course_av_mnist(seed, quick, pca_components=pca_components, snr_db=snr_db)
            models = make(av, seed)
        made[seed] = (av.test, dict(models))
    return made


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
