import math

import pytest
import torch

from course_utils import stats


def test_binomial_se_matches_the_style_guide_example():
    assert stats.binomial_se(0.55, 2000) == pytest.approx(0.0111, abs=1e-4)  # ±1.1 pp
    with pytest.raises(ValueError, match="accuracy in"):
        stats.binomial_se(55.0, 2000)
    with pytest.raises(ValueError, match="positive number of images"):
        stats.binomial_se(0.5, 0)


def test_paired_difference_interval():
    result = stats.paired_difference([74.08, 74.28, 74.41], [74.49, 74.94, 74.35])
    assert result.differences == pytest.approx((0.41, 0.66, -0.06))
    assert result.mean == pytest.approx(0.3367, abs=1e-3)
    half = stats.t_critical_95(2) * torch.tensor(result.differences).std().item() / math.sqrt(3)
    assert (result.low, result.high) == pytest.approx((result.mean - half, result.mean + half))
    assert result.worst == pytest.approx(-0.06)
    with pytest.raises(ValueError, match="at least 2"):
        stats.paired_difference([1.0], [2.0])
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired_difference([1.0, 2.0], [2.0])


# Two-sided 95 % critical values t_{0.975, df} as printed (3 decimals) in the t tables of statistics textbooks,
# e.g. Fisher & Yates, Statistical Tables (1938), Table III, and NIST/SEMATECH e-Handbook §1.3.6.7.2.
PUBLISHED_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
                  10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101,
                  19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052,
                  28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 50: 2.009, 60: 2.000, 80: 1.990, 100: 1.984}  # fmt: skip


@pytest.mark.parametrize("df", sorted(PUBLISHED_T975))
def test_t_critical_value_matches_the_published_table(df):
    assert round(stats.t_critical_95(df), 3) == PUBLISHED_T975[df]


def _t_density(t: float, df: int) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def test_t_critical_values_for_df_1_to_100_by_integrating_the_density():
    """An independent check of every df 1–100: Simpson's rule over the t density from 0 to the value gives 0.475."""
    for df in range(1, 101):
        t = stats.t_critical_95(df)
        steps = 4000
        h = t / steps
        inner = sum((4 if i % 2 else 2) * _t_density(i * h, df) for i in range(1, steps))
        area = h / 3 * (_t_density(0.0, df) + inner + _t_density(t, df))
        assert area == pytest.approx(0.475, abs=1e-9), f"df {df}: t = {t}"


def test_t_critical_values_closed_forms_and_limit():
    assert stats.t_critical_95(1) == pytest.approx(math.tan(0.95 * math.pi / 2), rel=1e-10)  # Cauchy
    assert stats.t_critical_95(2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), rel=1e-10)
    assert 1.95996 < stats.t_critical_95(100_000) < 1.96000  # tends to the normal's 1.959964
    assert all(stats.t_critical_95(df) > stats.t_critical_95(df + 1) for df in range(1, 100))
    assert stats.t_quantile(0.025, 11) == pytest.approx(-stats.t_critical_95(11))
    assert stats.t_cdf(0.0, 7) == 0.5
    with pytest.raises(ValueError, match="positive int"):
        stats.t_critical_95(0)


def test_mcnemar_se_of_a_paired_accuracy_difference():
    # 30 images lost, 10 gained of 2,000: √(40 − 20²/2000)/2000 = √39.8/2000
    assert stats.mcnemar_se(30, 10, 2000) == pytest.approx(math.sqrt(39.8) / 2000)
    # every flip in one direction (n10 = n): the difference is certain, no noise
    assert stats.mcnemar_se(50, 0, 50) == 0.0
    # far below the unpaired √2·SE when few predictions flip
    assert stats.mcnemar_se(30, 10, 2000) < math.sqrt(2) * stats.binomial_se(0.9, 2000) / 3
    with pytest.raises(ValueError, match="n10 \\+ n01"):
        stats.mcnemar_se(30, 10, 20)
    with pytest.raises(ValueError, match="count of images"):
        stats.mcnemar_se(-1, 10, 20)


def test_entropy():
    assert stats.entropy(torch.full((4,), 0.25), base=2).item() == pytest.approx(2.0)
    assert stats.entropy(torch.tensor([[1.0, 0.0], [0.5, 0.5]])).tolist() == pytest.approx([0.0, math.log(2)])
    assert stats.empirical_entropy_bits([1, 1, 2, 3]) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="sum to 1"):
        stats.entropy(torch.tensor([0.5, 0.2]))
    with pytest.raises(ValueError, match="empty"):
        stats.empirical_entropy_bits([])


def test_mean_se_is_the_sample_std_over_root_n():
    mean, se = stats.mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and abs(se - math.sqrt(5 / 3) / 2) < 1e-12
    assert stats.mean_se(torch.tensor([[0.5, 0.5], [0.5, 0.5]])) == (0.5, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        stats.mean_se([1.0])
    with pytest.raises(ValueError, match="NaN"):
        stats.mean_se([1.0, float("nan")])


def test_seeds_to_resolve_an_effect():
    # t(5)/√6 = 1.050 is not below 1, t(6)/√7 = 0.925 is: seven seeds resolve one spread
    assert stats.seeds_to_resolve(1.0, 1.0) == 7
    assert stats.seeds_to_resolve(0.0, 1.0) == 2, "no spread: the smallest interval there is"
    assert stats.seeds_to_resolve(2.0, 1.0) > stats.seeds_to_resolve(1.0, 1.0) > stats.seeds_to_resolve(0.5, 1.0)
    assert stats.seeds_to_resolve(100.0, 1.0, max_seeds=50) is None
    with pytest.raises(ValueError, match="effect"):
        stats.seeds_to_resolve(1.0, 0.0)
