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


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 1000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):  # fmt: skip
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            return result
    raise ArithmeticError(f"the incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) = B(x; a, b) / B(a, b), the CDF of a Beta(a, b) variable at ``x`` (Numerical Recipes §6.4)."""
    if a <= 0 or b <= 0 or not 0.0 <= x <= 1.0:
        raise ValueError(f"need a, b > 0 and x in [0, 1], got a={a}, b={b}, x={x}")
    if x in (0.0, 1.0):
        return x
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b  # the symmetry I_x(a, b) = 1 − I_{1−x}(b, a)


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom: 1 − ½·I_{df/(df+t²)}(df/2, ½) for t ≥ 0."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df!r}")
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom, by bisection of :func:`t_cdf` (to 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1), got {p!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:  # the t's tails are heavy (df 1: the 0.975 quantile is 12.7): widen until bracketed
        low, high = high, 2.0 * high
    while high - low > 1e-12 * max(1.0, high):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return 0.5 * (low + high)


def t_critical_95(df: int) -> float:
    """The two-sided 95 % critical value of Student's t with ``df`` degrees of freedom: its 0.975 quantile, exactly."""
    if isinstance(df, bool) or not isinstance(df, int) or df <= 0:
        raise ValueError(f"degrees of freedom must be a positive int, got {df!r}")
    return t_quantile(0.975, df)


def mcnemar_se(n10: int, n01: int, n: int) -> float:
    """Standard error of a paired accuracy difference (n10 − n01)/n, two models judged on the same n images.

    ``n10``: images the first model gets right and the second wrong; ``n01``: the reverse. Only these discordant
    images carry the difference, so its standard error √(n10 + n01 − (n10 − n01)²/n)/n is far below the
    √2·√(p(1−p)/n) of two independent accuracies when few predictions flip (McNemar 1947).
    """
    for name, count in (("n10", n10), ("n01", n01), ("n", n)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be a count of images, got {count!r}")
    if n == 0 or n10 + n01 > n:
        raise ValueError(f"need n10 + n01 ≤ n and n > 0, got n10={n10}, n01={n01}, n={n}")
    return math.sqrt(max(n10 + n01 - (n10 - n01) ** 2 / n, 0.0)) / n


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


def seeds_to_resolve(spread: float, effect: float, max_seeds: int = 1000) -> int | None:
    """The fewest paired seeds n (≥ 2) whose 95 % t-interval half-width t(n−1)·spread/√n is below ``effect``.

    ``spread``: the standard deviation of one seed's paired difference (measured); ``effect``: the size the
    interval must resolve, e.g. a +1 pp target. None when even ``max_seeds`` would not do.
    """
    if not spread >= 0 or not effect > 0:
        raise ValueError(f"need spread ≥ 0 and effect > 0, got spread={spread!r}, effect={effect!r}")
    for n in range(2, max_seeds + 1):
        if t_critical_95(n - 1) * spread / math.sqrt(n) < effect:
            return n
    return None


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
