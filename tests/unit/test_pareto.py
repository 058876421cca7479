"""The Pareto front of variants and its figure."""

import matplotlib
import pytest

from course_utils import pareto

matplotlib.use("Agg")

ROWS = [
    {"name": "start", "accuracy": 0.95, "bytes": 300, "latency_b1_ms": 1.0},
    {"name": "small", "accuracy": 0.93, "bytes": 100, "latency_b1_ms": 1.0},
    {"name": "worse", "accuracy": 0.92, "bytes": 150, "latency_b1_ms": 1.5},  # beaten by small in everything
    {"name": "fast", "accuracy": 0.90, "bytes": 120, "latency_b1_ms": 0.2},
]


def test_front_keeps_exactly_the_undominated_rows():
    assert pareto.pareto_front(ROWS, maximise=["accuracy"], minimise=["bytes", "latency_b1_ms"]) == [0, 1, 3]
    assert pareto.pareto_front(ROWS, maximise=["accuracy"], minimise=["bytes"]) == [0, 1]
    twins = [ROWS[0], dict(ROWS[0])]
    assert pareto.pareto_front(twins, maximise=["accuracy"]) == [0, 1], "equal rows do not beat each other"


def test_front_needs_objectives_that_exist():
    with pytest.raises(ValueError):
        pareto.pareto_front(ROWS)
    with pytest.raises(KeyError, match="speed"):
        pareto.pareto_front(ROWS, maximise=["speed"])


def test_figure_draws_three_panels_with_the_references():
    fig = pareto.tradeoff_figure(ROWS, [0, 1, 3], references=[{"name": "paper", "bytes_ratio": 39.0, "drop_pp": 0.0}])
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) >= 3
    assert any(t.get_text() == "paper" for t in fig.axes[-1].texts + [t for ax in fig.axes for t in ax.texts])
