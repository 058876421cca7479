"""What the fusion notebooks (10 and 11) share: small encoders, tokenisers, and a training loop for paired data.

Every model takes ``(images, audio)`` (an :class:`~course_utils.avmnist.AVSplit` batch) and returns logits. The
fusion techniques themselves are written in the notebooks that teach them; this module holds only the parts they
have in common. A *missing* modality is replaced by zeros, which after standardisation is the training mean.

    model = Unimodal("audio")
    history = fit_paired(model, av.train, epochs=5, lr=3e-3, seed=0, val=av.val)
    accuracy = evaluate_paired(model, av.test, missing="image")

Shared by both notebooks, so written once: the encoders, :class:`ConcatFusion` and :class:`LateFusion` (models
notebook 11 compares with), :class:`PartTokens` (the patch and segment tokens both start from) and
:func:`mean_over_pairs` (averaging what a model kept, e.g. attention weights, over the test pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import training
from .avmnist import AVSplit
from .training import History, model_device

MODALITIES = ("image", "audio")


class ImageEncoder(nn.Module):
    """A degraded 28×28 image → a ``dim``-vector: a two-layer MLP on the pixels."""

    def __init__(self, dim: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, dim), nn.ReLU())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class AudioEncoder(nn.Module):
    """A ``(1, n_mels, frames)`` log-mel spectrogram → a ``dim``-vector: a 1-D conv over time, pooled, then a linear."""

    def __init__(self, n_mels: int = 32, dim: int = 64, channels: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(n_mels, channels, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4))
        self.head = nn.Sequential(nn.Flatten(), nn.LazyLinear(dim), nn.ReLU())

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(audio.squeeze(1)))


def build_encoder(modality: str, dim: int = 64, n_mels: int = 32) -> nn.Module:
    """The course's encoder for ``'image'`` or ``'audio'``."""
    if modality == "image":
        return ImageEncoder(dim)
    if modality == "audio":
        encoder = AudioEncoder(n_mels, dim)
        encoder(torch.zeros(1, 1, n_mels, 63))  # materialise the lazy layer for 1 s of 16 ms frames
        return encoder
    raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


class Unimodal(nn.Module):
    """One modality's encoder and a linear classifier; the other input is ignored."""

    def __init__(self, modality: str, dim: int = 64, n_mels: int = 32) -> None:
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
        self.modality = modality
        self.encoder = build_encoder(modality, dim, n_mels)
        self.classifier = nn.Linear(dim, 10)

    def forward(self, images: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(images if self.modality == "image" else audio))


class ConcatFusion(nn.Module):
    """Intermediate fusion, the reference that notebook 11 compares with: both encoders, concatenated, an MLP head."""

    def __init__(self, dim: int = 64, hidden: int = 64, n_mels: int = 32) -> None:
        super().__init__()
        self.image_encoder = build_encoder("image", dim, n_mels)
        self.audio_encoder = build_encoder("audio", dim, n_mels)
        self.head = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, images: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.image_encoder(images), self.audio_encoder(audio)], dim=1))


class LateFusion(nn.Module):
    """Late fusion (notebook 10): a weighted sum of two frozen unimodal models' log-probabilities, plus a bias.

    ``learn=False`` keeps equal weights ½, ½ and no bias: the average of the log-probabilities (a product of experts).
    ``learn=True`` leaves the two weights and ten biases trainable (notebook 10 fits them on the validation pairs).
    """

    def __init__(self, image_model: nn.Module, audio_model: nn.Module, learn: bool) -> None:
        super().__init__()
        self.image_model, self.audio_model = image_model.requires_grad_(False), audio_model.requires_grad_(False)
        self.weights = nn.Parameter(torch.full((2,), 0.5), requires_grad=learn)
        self.bias = nn.Parameter(torch.zeros(10), requires_grad=learn)

    def forward(self, images: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        log_p = torch.stack([F.log_softmax(model(images, audio), 1) for model in (self.image_model, self.audio_model)])
        return (self.weights.view(2, 1, 1) * log_p).sum(0) + self.bias


class PartTokens(nn.Module):
    """A pair's parts as tokens: 16 image patches and 16 audio segments, each a ``d``-vector plus a learned position.

    What notebook 10's cross-modal attention and notebook 11's graph fusion (patch and segment nodes) start from:
    ``relu(linear(part)) + position``, one linear layer and one table of positions per modality.
    """

    def __init__(self, d: int = 32, *, patch: int = 7, frames_per_segment: int = 4, n_mels: int = 32,
                 tokens: int = 16) -> None:  # fmt: skip
        super().__init__()
        self.patch, self.frames_per_segment = patch, frames_per_segment
        self.image_in, self.audio_in = nn.Linear(patch * patch, d), nn.Linear(n_mels * frames_per_segment, d)
        self.image_pos = nn.Parameter(0.1 * torch.randn(tokens, d))
        self.audio_pos = nn.Parameter(0.1 * torch.randn(tokens, d))

    def forward(self, images: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(image tokens (N, 16, d), audio tokens (N, 16, d))``."""
        image_tokens = F.relu(self.image_in(image_patches(images, self.patch))) + self.image_pos
        audio_tokens = F.relu(self.audio_in(audio_segments(audio, self.frames_per_segment))) + self.audio_pos
        return image_tokens, audio_tokens


def image_patches(images: torch.Tensor, patch: int = 7) -> torch.Tensor:
    """``(N, 1, 28, 28)`` → ``(N, (28/patch)², patch²)``: non-overlapping patches in row-major order (tokens/nodes)."""
    if images.ndim != 4 or images.shape[-1] % patch or images.shape[-2] % patch:
        raise ValueError(f"images must be (N, C, H, W) with H, W divisible by {patch}, got {tuple(images.shape)}")
    n, c = images.shape[:2]
    tiles = images.unfold(2, patch, patch).unfold(3, patch, patch)  # (N, C, H/p, W/p, p, p)
    return tiles.permute(0, 2, 3, 1, 4, 5).reshape(n, -1, c * patch * patch)


def audio_segments(audio: torch.Tensor, frames_per_segment: int = 4) -> torch.Tensor:
    """``(N, 1, n_mels, frames)`` → ``(N, segments, n_mels · frames_per_segment)``: consecutive frames grouped (tokens)."""
    if audio.ndim != 4:
        raise ValueError(f"audio must be (N, 1, n_mels, frames), got {tuple(audio.shape)}")
    frames = audio.shape[-1]
    padded = F.pad(audio, (0, (-frames) % frames_per_segment))
    n, _, mels, total = padded.shape
    return padded.reshape(n, mels, total // frames_per_segment, frames_per_segment).permute(0, 2, 1, 3).reshape(
        n, total // frames_per_segment, mels * frames_per_segment)  # fmt: skip


def drop_modality(images: torch.Tensor, audio: torch.Tensor, missing: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the ``missing`` modality (``'image'``, ``'audio'`` or None)."""
    if missing is None:
        return images, audio
    if missing == "image":
        return torch.zeros_like(images), audio
    if missing == "audio":
        return images, torch.zeros_like(audio)
    raise ValueError(f"missing must be None, 'image' or 'audio', got {missing!r}")


def _dropout_batch(images: torch.Tensor, audio: torch.Tensor, p: float,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Modality dropout: with probability ``p`` per example, zero one of its two modalities (each half the time)."""
    n = images.shape[0]
    drop = torch.rand(n, generator=generator) < p
    which = torch.rand(n, generator=generator) < 0.5
    keep_image = ~(drop & which)
    keep_audio = ~(drop & ~which)
    shape = (n, 1, 1, 1)
    return images * keep_image.view(shape).to(images), audio * keep_audio.view(shape).to(audio)


def paired_batches(split: AVSplit, batch_size: int, *, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:  # fmt: skip
    """``(images, audio, labels)`` mini-batches; shuffled when a ``generator`` is given."""
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    n = len(split)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield split.images[index].to(device), split.audio[index].to(device), split.labels[index].to(device)


class PairedBatches:
    """Shuffled ``((images, audio), labels)`` mini-batches of a split for :func:`course_utils.training.fit`.

    One generator draws each epoch's order and then, per batch, the modality dropout (see :func:`_dropout_batch`).
    """

    def __init__(self, split: AVSplit, batch_size: int, *, seed: int = 0, modality_dropout: float = 0.0,
                 device: torch.device | str = "cpu") -> None:  # fmt: skip
        if not 0.0 <= modality_dropout <= 1.0:
            raise ValueError(f"modality_dropout is a probability in [0, 1], got {modality_dropout!r}")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.split, self.batch_size, self.modality_dropout, self.device = split, batch_size, modality_dropout, device
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (len(self.split) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]]:
        for images, audio, labels in paired_batches(self.split, self.batch_size, generator=self.generator,
                                                    device=self.device):  # fmt: skip
            if self.modality_dropout > 0:
                images, audio = _dropout_batch(images, audio, self.modality_dropout, self.generator)
            yield (images, audio), labels


def paired_step(model: nn.Module, x: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``step_loss`` for paired data: cross-entropy of ``model(images, audio)``."""
    logits = model(*x)
    return F.cross_entropy(logits, y), logits


def fit_paired(model: nn.Module, train: AVSplit, *, epochs: int, lr: float, batch_size: int = 128, seed: int = 0,
               weight_decay: float = 0.0, modality_dropout: float = 0.0, val: AVSplit | None = None,
               device: torch.device | str = "cpu", progress: bool = False) -> History:  # fmt: skip
    """Train ``model(images, audio)`` with the course's one loop (:func:`course_utils.training.fit`: Adam, a
    one-cycle schedule, cross-entropy); return its History.

    ``modality_dropout``: the probability that an example loses one of its modalities in a training step (the
    robustness fix of notebook 10). Same seed, data and arguments give the same weights on the same CPU.
    """
    batches = PairedBatches(train, batch_size, seed=seed, modality_dropout=modality_dropout, device=device)
    score = None if val is None else (lambda net: evaluate_paired(net, val))
    return training.fit(model, train, epochs=epochs, lr=lr, batch_size=batch_size, optimizer="adam",
                        weight_decay=weight_decay, seed=seed, device=device, step_loss=paired_step, progress=progress,
                        batches=batches, evaluate_val=score)  # fmt: skip


def predict_paired(model: nn.Module, split: AVSplit, *, missing: str | None = None, batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` on every pair of ``split`` (eval mode, on the CPU), with the ``missing`` modality zeroed."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outputs = [model(*drop_modality(x, a, missing)).float().cpu()
                       for x, a, _ in paired_batches(split, batch_size, device=device)]  # fmt: skip
    finally:
        model.train(was_training)
    return torch.cat(outputs)


def evaluate_paired(model: nn.Module, split: AVSplit, *, missing: str | None = None) -> float:
    """Accuracy (a fraction) of ``model`` on ``split``, optionally with one modality missing."""
    return (predict_paired(model, split, missing=missing).argmax(1) == split.labels).float().mean().item()


def _recording_groups(split: AVSplit) -> tuple[torch.Tensor, list[str]]:
    names = sorted(set(split.recording))
    position = {name: i for i, name in enumerate(names)}
    return torch.tensor([position[r] for r in split.recording]), names


def per_recording_mean(values: torch.Tensor, split: AVSplit) -> tuple[torch.Tensor, list[str]]:
    """Mean of a per-pair vector (0/1 correct, or a difference) within each recording, and the recordings' names.

    Test pairs that share a recording share its noise and speaker, so a standard error over pairs is too small;
    the recordings are the independent units (a cluster-robust standard error, :func:`clustered_se`).
    """
    if values.shape != (len(split),):
        raise ValueError(f"need one value per pair ({len(split)}), got shape {tuple(values.shape)}")
    group, names = _recording_groups(split)
    sums = torch.zeros(len(names), dtype=torch.float64).index_add_(0, group, values.double())
    return sums / torch.bincount(group, minlength=len(names)).double(), names


def clustered_se(values: torch.Tensor, split: AVSplit) -> float:
    """Standard error of the mean of per-pair ``values``, pairs clustered by recording (CR1 small-sample factor)."""
    means, names = per_recording_mean(values, split)
    group, _ = _recording_groups(split)
    weights = torch.bincount(group, minlength=len(names)).double() / len(split)
    overall = float((weights * means).sum())
    k = len(names)
    return float(torch.sqrt((weights.square() * (means - overall).square()).sum() * k / max(k - 1, 1)))


def mean_over_pairs(model: nn.Module, split: AVSplit, read: Callable[[nn.Module], dict[str, torch.Tensor]], *,
                    batch_size: int = 1000) -> dict[str, torch.Tensor]:  # fmt: skip
    """Run ``model`` on every pair of ``split`` (eval mode, no gradients) and average what ``read(model)`` returns.

    ``read`` is called after each batch and returns tensors whose first dimension is the batch (e.g. the attention
    weights the model kept of its last call); the result holds each one's mean over all pairs, on the CPU.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    try:
        with torch.inference_mode():
            for images, audio, _ in paired_batches(split, batch_size, device=device):
                model(images, audio)
                for name, value in read(model).items():
                    if value.shape[0] != images.shape[0]:
                        raise ValueError(f"read() must return one row per pair of the batch ({images.shape[0]}), "
                                         f"got {name!r} of shape {tuple(value.shape)}")  # fmt: skip
                    total = value.double().sum(0).cpu()
                    sums[name] = total if name not in sums else sums[name] + total
    finally:
        model.train(was_training)
    return {name: (total / len(split)).float() for name, total in sums.items()}
