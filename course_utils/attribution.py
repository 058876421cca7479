"""Measure whether an attribution map means anything: deletion/insertion curves, their AUC, rank correlation.

Use it to score any explanation method (saliency, IG, Grad-CAM, attention rollout...) the same way:

    curves = deletion_curves(model, images, maps, targets, steps=20, baseline=black)   # (N, steps + 1)
    scores = auc(curves)                                                               # (N,): lower is better
    curves = insertion_curves(model, images, maps, targets, steps=20, baseline=black)  # higher AUC is better
    rho = spearman(maps_before, maps_after)                                            # (N,) in [-1, 1]

Deletion (Petsiuk et al. 2018, RISE): replace the pixels in order of decreasing attribution with the baseline
and follow the softmax probability of the target class; a faithful map makes it fall fast (small AUC).
Insertion: start from the baseline and put the pixels back in the same order; it should rise fast (large AUC).
Pixels are ranked by the map's *signed* value (pass ``maps.abs()`` to rank by magnitude); a map with one
value per channel is summed over channels first, and all channels of a pixel are replaced together.

Two reference "explanations" every method should beat: :func:`random_attribution` (uniform noise) and
:func:`edge_attribution` (a Sobel edge detector, which knows nothing about the model).
Every function checks its inputs and raises ValueError naming the bad shape or value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be an (N, C, H, W) tensor, got {shape}")
    if images.shape[0] == 0:
        raise ValueError("images is empty (N = 0)")


def pixel_scores(images: torch.Tensor, attributions: torch.Tensor) -> torch.Tensor:
    """Validate ``attributions`` against ``images`` and return one score per pixel, shape (N, H·W).

    Accepted attribution shapes: (N, C, H, W) like the images (summed over channels), (N, 1, H, W) or (N, H, W).
    """
    _check_images(images)
    n, _, h, w = images.shape
    if not isinstance(attributions, torch.Tensor):
        raise ValueError(f"attributions must be a tensor, got {type(attributions).__name__}")
    if attributions.ndim == 3:
        attributions = attributions.unsqueeze(1)
    if attributions.ndim != 4 or attributions.shape[0] != n or tuple(attributions.shape[2:]) != (h, w) \
            or attributions.shape[1] not in (1, images.shape[1]):  # fmt: skip
        raise ValueError(f"attributions of shape {tuple(attributions.shape)} do not match images {tuple(images.shape)}: "
                         f"expected (N, C, H, W), (N, 1, H, W) or (N, H, W) with N={n}, H={h}, W={w}")  # fmt: skip
    if not torch.isfinite(attributions).all():
        bad = int((~torch.isfinite(attributions)).flatten(1).any(1).sum())
        raise ValueError(f"attributions contain NaN or infinite values (in {bad} of {n} maps); fix the method first")
    return attributions.detach().float().sum(1).flatten(1)


def _baseline_like(images: torch.Tensor, baseline: float | torch.Tensor) -> torch.Tensor:
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(images, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise ValueError(f"baseline must be a number or a tensor, got {type(baseline).__name__}")
    if tuple(baseline.shape) == tuple(images.shape):
        return baseline.to(images)
    if tuple(baseline.shape) == tuple(images.shape[1:]):
        return baseline.to(images).expand_as(images)
    raise ValueError(f"baseline of shape {tuple(baseline.shape)} does not match images {tuple(images.shape)}: "
                     f"give a number, one (C, H, W) image or one baseline per image")  # fmt: skip


def _check_targets(targets: torch.Tensor | int, n: int) -> torch.Tensor:
    targets = torch.as_tensor(targets, dtype=torch.long)
    if targets.ndim == 0:
        targets = targets.expand(n)
    if tuple(targets.shape) != (n,):
        raise ValueError(f"targets must be one class per image (shape ({n},)), got shape {tuple(targets.shape)}")
    return targets


def _curves(model: nn.Module, images: torch.Tensor, attributions: torch.Tensor, targets: torch.Tensor | int, *,
            steps: int, baseline: float | torch.Tensor, batch_size: int, insert: bool) -> torch.Tensor:  # fmt: skip
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    scores = pixel_scores(images, attributions)
    start = _baseline_like(images, baseline)
    targets = _check_targets(targets, images.shape[0])
    n, c, h, w = images.shape
    pixels = h * w
    order = scores.argsort(dim=1, descending=True, stable=True)  # ties: earlier pixel first (deterministic)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(pixels).expand(n, -1))
    counts = torch.round(torch.linspace(0, pixels, steps + 1)).long()  # pixels changed at each point of the curve
    device = next(iter(model.parameters()), images).device
    out = torch.empty(n, steps + 1)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for lo in range(0, n, max(1, batch_size // (steps + 1))):
                hi = min(n, lo + max(1, batch_size // (steps + 1)))
                changed = (rank[lo:hi, None, :] < counts[None, :, None]).view(hi - lo, steps + 1, 1, h, w)
                original, other = images[lo:hi, None], start[lo:hi, None]
                if insert:  # start from the baseline, put the top pixels back
                    original, other = other, original
                batch = torch.where(changed, other, original).reshape(-1, c, h, w)
                probs = torch.softmax(model(batch.to(device)).float(), dim=1).cpu()
                index = targets[lo:hi].repeat_interleave(steps + 1)
                out[lo:hi] = probs[torch.arange(len(index)), index].view(hi - lo, steps + 1)
    finally:
        model.train(was_training)
    return out


def deletion_curves(model: nn.Module, images: torch.Tensor, attributions: torch.Tensor, targets: torch.Tensor | int,
                    *, steps: int = 20, baseline: float | torch.Tensor = 0.0,
                    batch_size: int = 2048) -> torch.Tensor:  # fmt: skip
    """Target-class probability as the top 0, 1/steps, …, all of the pixels are set to ``baseline``: (N, steps+1).

    ``baseline``: a number, one (C, H, W) image or one per image, in the model's input space (for normalised
    MNIST a black image is ``(0 - mean) / std``). ``batch_size`` bounds the images per forward pass.
    """
    return _curves(model, images, attributions, targets, steps=steps, baseline=baseline, batch_size=batch_size,
                   insert=False)  # fmt: skip


def insertion_curves(model: nn.Module, images: torch.Tensor, attributions: torch.Tensor, targets: torch.Tensor | int,
                     *, steps: int = 20, baseline: float | torch.Tensor = 0.0,
                    batch_size: int = 2048) -> torch.Tensor:  # fmt: skip
    """Target-class probability as the top pixels are copied from the image onto ``baseline``: (N, steps+1)."""
    return _curves(model, images, attributions, targets, steps=steps, baseline=baseline, batch_size=batch_size,
                   insert=True)  # fmt: skip


def auc(curves: torch.Tensor) -> torch.Tensor:
    """Area under each curve sampled at equally spaced fractions 0…1 (trapezoidal rule): (N,) for (N, points)."""
    if not isinstance(curves, torch.Tensor) or curves.ndim != 2 or curves.shape[1] < 2:
        shape = tuple(curves.shape) if isinstance(curves, torch.Tensor) else type(curves).__name__
        raise ValueError(f"curves must be (N, points) with at least 2 points, got {shape}")
    if not torch.isfinite(curves).all():
        raise ValueError("curves contain NaN or infinite values")
    return ((curves[:, 1:] + curves[:, :-1]) / 2).mean(1)


def random_attribution(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A map of uniform noise, one value per pixel (N, H, W): the chance level any method must beat."""
    _check_images(images)
    generator = torch.Generator().manual_seed(seed)
    n, _, h, w = images.shape
    return torch.rand(n, h, w, generator=generator)


def edge_attribution(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of each image (N, H, W), summed over channels: an 'explanation' blind to the model."""
    _check_images(images)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([kx, kx.T]).unsqueeze(1)  # (2, 1, 3, 3)
    gray = images.detach().float().cpu().flatten(0, 1).unsqueeze(1)  # every channel on its own
    grad = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernels)
    magnitude = grad.pow(2).sum(1).sqrt()
    return magnitude.view(images.shape[0], images.shape[1], *images.shape[2:]).sum(1)


def _average_ranks(row: torch.Tensor) -> torch.Tensor:
    """Ranks 0…n−1 of a 1-D tensor, ties given their average rank (as scipy.stats.rankdata, minus one)."""
    values, order = row.sort(stable=True)
    _, inverse, counts = torch.unique_consecutive(values, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    average = ends - (counts.double() + 1) / 2  # mean of the 0-based positions each tie group occupies
    ranks = torch.empty(row.numel(), dtype=torch.float64)
    ranks[order] = average[inverse]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each pair of maps: (N,) for two (N, ...) tensors of the same shape.

    Ties get average ranks. A constant map has no ranking: its correlation is NaN (and says so by being NaN).
    """
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2:
            raise ValueError(f"{name} must be an (N, ...) tensor of maps, got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")  # fmt: skip
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra = torch.stack([_average_ranks(r) for r in a.detach().flatten(1).cpu()])
    rb = torch.stack([_average_ranks(r) for r in b.detach().flatten(1).cpu()])
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return ((ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1))).float()
