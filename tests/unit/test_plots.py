import matplotlib
import pytest
import torch

from course_utils import data, plots, training

matplotlib.use("Agg")


def _toy():
    labels = torch.arange(3).repeat_interleave(4)
    images = torch.randint(0, 256, (12, 3, 8, 8), dtype=torch.uint8)
    return data.ImageData("toy", images, labels, ("a", "b", "c"), (0.5,) * 3, (0.2,) * 3)


def test_every_plot_returns_a_figure_with_content():
    history = training.History(train_loss=[1.0, 0.5], val_accuracy=[0.5, 0.8])
    figures = [
        plots.training_curves({"run": history}),
        plots.image_grid(_toy(), per_class=2),
        plots.class_counts({"toy": _toy()}),
        plots.bar_chart({"a": 1.0, "b": 2.0}, "speed-up", reference=1.0),
        plots.latency_distribution({"a": [1.0, 2.0, 3.0]}),
    ]
    for fig in figures:
        assert fig.axes and any(ax.has_data() for ax in fig.axes)


def test_image_grid_has_one_row_per_class():
    fig = plots.image_grid(_toy(), per_class=2)
    assert len(fig.axes) == 3 * 2


def test_empty_inputs_are_refused():
    for call in (lambda: plots.training_curves({}), lambda: plots.bar_chart({}, "y"),
                 lambda: plots.latency_distribution({}), lambda: plots.image_grid(_toy(), per_class=0)):
        with pytest.raises(ValueError):
            call()
