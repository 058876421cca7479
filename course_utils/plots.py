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


def image_grid(data: ImageData, per_class: int = 8, seed: int = 0, gap: int = 2) -> Figure:
    """``per_class`` example images of every class, one row per class, drawn as one mosaic image.

    One ``imshow`` of a mosaic (``gap`` white pixels between images) instead of one axes per image: a
    10 × 10 grid draws in a fraction of the time, which matters on a slow CPU in quick mode.
    """
    if per_class <= 0:
        raise ValueError(f"per_class must be positive, got {per_class}")
    if gap < 0:
        raise ValueError(f"gap must be ≥ 0 pixels, got {gap}")
    mosaic, (height, width) = _mosaic(data.stratified(per_class, seed), len(data.classes), per_class, gap)
    n_classes = len(data.classes)
    fig, ax = plt.subplots(figsize=(per_class * 0.9, n_classes * 0.95))
    ax.imshow(mosaic.squeeze(-1).numpy(), cmap="gray" if mosaic.shape[-1] == 1 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([row * (height + gap) + height / 2 for row in range(n_classes)], data.classes, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"{data.name}: {per_class} images per class")
    fig.tight_layout()
    return fig


def _mosaic(sample: ImageData, n_classes: int, per_class: int, gap: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """A uint8 (rows·(H+gap)−gap, cols·(W+gap)−gap, C) image: row = class, column = example; white gaps."""
    channels, height, width = sample.images.shape[1:]
    mosaic = torch.full((n_classes * (height + gap) - gap, per_class * (width + gap) - gap, channels), 255,
                        dtype=torch.uint8)  # fmt: skip
    for row in range(n_classes):
        images = sample.images[sample.labels == row]
        if len(images) < per_class:
            raise ValueError(f"class {row} has {len(images)} images, fewer than per_class={per_class}")
        for col in range(per_class):
            top, left = row * (height + gap), col * (width + gap)
            mosaic[top:top + height, left:left + width] = images[col].permute(1, 2, 0)
    return mosaic, (height, width)


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
