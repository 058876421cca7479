"""The statistics a bound is set from: binomial standard errors, paired differences over seeds, entropy.

Use it when a claim compares noisy figures. An accuracy measured on n test images has standard error
√(p(1−p)/n), so two accuracies on 2,000 images that differ by 1 pp can be the same model; a gain measured
over seeds is judged on the per-seed (paired) differences, with a t-based interval, not on one arm's spread.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import torch

# Two-sided 95 % Student-t critical values t_{0.975, df} (any statistics table); beyond 30 the normal's 1.96.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}  # fmt: skip


def mean_se(values: torch.Tensor | Sequence[float]) -> tuple[float, float]:
    """``(mean, standard error of the mean)`` of per-item figures (e.g. one AUC per test image): s / √n."""
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    if values.numel() < 2:
        raise ValueError(f"a standard error needs at least 2 values, got {values.numel()}")
    if not torch.isfinite(values).all():
        raise ValueError("values contain NaN or infinity")
    return values.mean().item(), (values.std() / math.sqrt(values.numel())).item()


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` independent test images: √(p(1−p)/n)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be an accuracy in [0, 1], got {p!r}")
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive number of images, got {n!r}")
    return math.sqrt(p * (1.0 - p) / n)


def t_critical_95(df: int) -> float:
    """The two-sided 95 % critical value of Student's t with ``df`` degrees of freedom (conservative between rows)."""
    if not isinstance(df, int) or df <= 0:
        raise ValueError(f"degrees of freedom must be a positive int, got {df!r}")
    if df > 30:
        return 1.96
    return _T975[min(k for k in _T975 if k >= df)] if df not in _T975 else _T975[df]


@dataclass(frozen=True)
class PairedDifference:
    """Per-seed differences b − a of two arms run on the same seeds, and a 95 % t-interval of their mean."""

    differences: tuple[float, ...]
    mean: float
    low: float
    high: float

    @property
    def worst(self) -> float:
        return min(self.differences)


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """Mean of ``b[i] − a[i]`` over seeds with a two-sided 95 % t-interval (needs ≥ 2 pairs)."""
    if len(a) != len(b):
        raise ValueError(f"paired arms need one value per seed each, got {len(a)} and {len(b)}")
    if len(a) < 2:
        raise ValueError(f"an interval needs at least 2 paired seeds, got {len(a)}")
    diffs = tuple(float(y) - float(x) for x, y in zip(a, b, strict=True))
    mean = statistics.fmean(diffs)
    half = t_critical_95(len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return PairedDifference(diffs, mean, mean - half, mean + half)


def entropy(probabilities: torch.Tensor, base: float = math.e) -> torch.Tensor:
    """Shannon entropy of each row of a probability tensor (nats by default; ``base=2`` for bits)."""
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1, got {base}")
    p = torch.as_tensor(probabilities, dtype=torch.float64)
    if (p < 0).any() or not torch.allclose(p.sum(-1), torch.ones((), dtype=torch.float64), atol=1e-6):
        raise ValueError("probabilities must be non-negative and sum to 1 along the last dimension")
    return -(p * p.clamp_min(1e-300).log()).sum(-1) / math.log(base)


def empirical_entropy_bits(symbols: torch.Tensor | Sequence[int]) -> float:
    """Entropy in bits per symbol of the symbols' frequencies: the lower bound of any prefix code for them."""
    values = torch.as_tensor(symbols).flatten()
    if values.numel() == 0:
        raise ValueError("symbols is empty")
    counts = torch.unique(values, return_counts=True)[1].double()
    return float(entropy(counts / counts.sum(), base=2))
