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
    half = 4.303 * torch.tensor(result.differences).std().item() / math.sqrt(3)
    assert (result.low, result.high) == pytest.approx((result.mean - half, result.mean + half))
    assert result.worst == pytest.approx(-0.06)
    with pytest.raises(ValueError, match="at least 2"):
        stats.paired_difference([1.0], [2.0])
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired_difference([1.0, 2.0], [2.0])


def test_t_critical_values():
    assert stats.t_critical_95(2) == 4.303 and stats.t_critical_95(11) == 2.179 and stats.t_critical_95(100) == 1.96


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
