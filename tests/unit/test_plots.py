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
    (ax,) = fig.axes  # one mosaic image, not one axes per image
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.images[0].get_array().shape == (3 * 8 + 2 * 2, 2 * 8 + 1 * 2, 3)


def test_mosaic_places_each_class_in_its_row_with_white_gaps():
    toy = _toy()
    sample = toy.stratified(2, 0)
    mosaic, (height, width) = plots._mosaic(sample, 3, 2, gap=1)
    assert (height, width) == (8, 8) and mosaic.shape == (3 * 9 - 1, 2 * 9 - 1, 3)
    first_of_class_1 = sample.images[sample.labels == 1][0].permute(1, 2, 0)
    assert torch.equal(mosaic[9:17, 0:8], first_of_class_1)
    assert bool((mosaic[8, :] == 255).all()) and bool((mosaic[:, 8] == 255).all())
    gray = data.ImageData("gray", toy.images[:, :1], toy.labels, toy.classes, (0.5,), (0.2,))
    assert plots.image_grid(gray, per_class=2).axes[0].images[0].get_array().ndim == 2


def test_empty_inputs_are_refused():
    for call in (lambda: plots.training_curves({}), lambda: plots.bar_chart({}, "y"),
                 lambda: plots.latency_distribution({}), lambda: plots.image_grid(_toy(), per_class=0),
                 lambda: plots.image_grid(_toy(), per_class=5), lambda: plots.image_grid(_toy(), per_class=1, gap=-1)):
        with pytest.raises(ValueError):
            call()
