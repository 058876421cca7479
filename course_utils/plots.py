"""The plots notebooks share: training curves, image grids, ratio bars, latency distributions.

Every function returns a matplotlib Figure (nothing global is changed: no rcParams, no style).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from .data import ImageData
from .training import History


def training_curves(histories: Mapping[str, History], title: str = "Training") -> Figure:
    """Train loss and validation accuracy per epoch, one line per named run."""
    if not histories:
        raise ValueError("histories is empty; pass {'run name': History, ...}")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, history in histories.items():
        epochs = range(1, len(history.train_loss) + 1)
        ax_loss.plot(epochs, history.train_loss, marker="o", label=name)
        if history.val_accuracy:
            ax_acc.plot(epochs, [100 * a for a in history.val_accuracy], marker="o", label=name)
    ax_loss.set(xlabel="epoch", ylabel="train loss", title=f"{title}: loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title=f"{title}: accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def image_grid(data: ImageData, per_class: int = 8, seed: int = 0) -> Figure:
    """``per_class`` example images of every class, one row per class."""
    if per_class <= 0:
        raise ValueError(f"per_class must be positive, got {per_class}")
    sample = data.stratified(per_class, seed)
    n_classes = len(data.classes)
    fig, axes = plt.subplots(n_classes, per_class, figsize=(per_class * 0.9, n_classes * 0.95))
    for row, cls in enumerate(range(n_classes)):
        images = sample.images[sample.labels == cls]
        for col in range(per_class):
            ax = axes[row, col]
            image = images[col].permute(1, 2, 0).squeeze(-1).numpy()
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(data.classes[cls], rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{data.name}: {per_class} images per class")
    fig.tight_layout()
    return fig


def class_counts(datasets: Mapping[str, ImageData]) -> Figure:
    """Bar chart of images per class for each named split."""
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3), squeeze=False)
    for ax, (name, data) in zip(axes[0], datasets.items(), strict=True):
        counts = torch.bincount(data.labels, minlength=len(data.classes))
        ax.bar(range(len(counts)), counts.tolist())
        ax.set_xticks(range(len(counts)), data.classes, rotation=45, ha="right", fontsize=8)
        ax.set(title=f"{name} ({len(data):,} images)", ylabel="images")
    fig.tight_layout()
    return fig


def bar_chart(values: Mapping[str, float], ylabel: str, title: str = "", reference: float | None = None) -> Figure:
    """Bars of named values (e.g. speed-ups), with an optional dashed reference line (e.g. 1.0)."""
    if not values:
        raise ValueError("values is empty")
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(values)), 3.2))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.bar_label(bars, fmt="%.3g", fontsize=8)
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle="--", linewidth=1)
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def latency_distribution(times_ms: Mapping[str, Sequence[float]], title: str = "Latency") -> Figure:
    """Histogram of per-call latencies of each variant, with its median marked."""
    if not times_ms:
        raise ValueError("times_ms is empty")
    fig, ax = plt.subplots(figsize=(7, 3.2))
    every = torch.tensor([t for times in times_ms.values() for t in times])
    bins = torch.linspace(every.min().item(), every.max().item(), 41).tolist()  # shared bins: comparable bars
    for name, times in times_ms.items():
        median = float(torch.tensor(list(times)).median())
        line = ax.hist(times, bins=bins, alpha=0.55, label=f"{name} (median {median:.2f} ms)")[2][0]
        ax.axvline(median, color=line.get_facecolor(), linestyle="--", alpha=1)
    ax.set(xlabel="milliseconds per call", ylabel="calls", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
