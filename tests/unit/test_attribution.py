import pytest
import torch
from torch import nn

from course_utils import attribution


class PixelSum(nn.Module):
    """Logit of class 0 = sum of the pixels in the left half; class 1 = 0: deleting bright left pixels hurts."""

    def forward(self, x):
        left = x[..., : x.shape[-1] // 2].flatten(1).sum(1)
        return torch.stack([left, torch.zeros_like(left)], dim=1)


def _images(n=4, c=1, size=8, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def test_deletion_of_the_true_evidence_beats_random():
    images = _images()
    model = PixelSum()
    truth = torch.zeros(4, 8, 8)
    truth[..., :4] = images[:, 0, :, :4]  # the exact contribution of each pixel
    good = attribution.auc(attribution.deletion_curves(model, images, truth, 0, steps=16))
    rand = attribution.auc(attribution.deletion_curves(model, images, attribution.random_attribution(images), 0, steps=16))
    worst = attribution.auc(attribution.deletion_curves(model, images, -truth, 0, steps=16))
    assert (good < rand).all() and (rand < worst).all()
    ins_good = attribution.auc(attribution.insertion_curves(model, images, truth, 0, steps=16))
    ins_worst = attribution.auc(attribution.insertion_curves(model, images, -truth, 0, steps=16))
    assert (ins_good > ins_worst).all()


def test_curve_end_points_are_the_image_and_the_baseline():
    images = _images(n=3, c=3)
    model = PixelSum()
    maps = torch.randn(3, 3, 8, 8)
    deletion = attribution.deletion_curves(model, images, maps, torch.tensor([0, 1, 0]), steps=4, batch_size=7)
    insertion = attribution.insertion_curves(model, images, maps, torch.tensor([0, 1, 0]), steps=4)
    full = torch.softmax(model(images), 1)[torch.arange(3), torch.tensor([0, 1, 0])]
    assert deletion.shape == (3, 5) and torch.allclose(deletion[:, 0], full) and torch.allclose(insertion[:, -1], full)
    assert torch.allclose(deletion[:, -1], torch.full((3,), 0.5)) and torch.allclose(insertion[:, 0], torch.full((3,), 0.5))


def test_batching_does_not_change_the_curves():
    images, maps = _images(n=5), torch.randn(5, 8, 8)
    a = attribution.deletion_curves(PixelSum(), images, maps, 0, steps=8, batch_size=9)
    b = attribution.deletion_curves(PixelSum(), images, maps, 0, steps=8, batch_size=10_000)
    assert torch.equal(a, b)


def test_auc_trapezoid():
    curves = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(attribution.auc(curves), torch.tensor([1.0, 0.5, 0.25]))
    with pytest.raises(ValueError, match="at least 2 points"):
        attribution.auc(torch.ones(3, 1))
    with pytest.raises(ValueError, match="NaN"):
        attribution.auc(torch.tensor([[0.0, float("nan")]]))


def test_bad_inputs_raise_clear_errors():
    images, model = _images(), PixelSum()
    with pytest.raises(ValueError, match=r"do not match images"):
        attribution.deletion_curves(model, images, torch.zeros(4, 7, 8), 0)
    with pytest.raises(ValueError, match=r"do not match images"):
        attribution.deletion_curves(model, images, torch.zeros(3, 8, 8), 0)
    with pytest.raises(ValueError, match=r"images must be an \(N, C, H, W\)"):
        attribution.deletion_curves(model, images[0], torch.zeros(1, 8, 8), 0)
    with pytest.raises(ValueError, match=r"baseline of shape \(2, 8, 8\)"):
        attribution.deletion_curves(model, images, torch.zeros(4, 8, 8), 0, baseline=torch.zeros(2, 8, 8))
    nan_maps = torch.zeros(4, 8, 8)
    nan_maps[1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite values \\(in 1 of 4 maps\\)"):
        attribution.insertion_curves(model, images, nan_maps, 0)
    with pytest.raises(ValueError, match="targets must be one class per image"):
        attribution.deletion_curves(model, images, torch.zeros(4, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="steps must be a positive int"):
        attribution.deletion_curves(model, images, torch.zeros(4, 8, 8), 0, steps=0)


def test_baseline_forms_agree():
    images, maps, model = _images(), torch.randn(4, 8, 8), PixelSum()
    a = attribution.deletion_curves(model, images, maps, 0, steps=4, baseline=0.25)
    b = attribution.deletion_curves(model, images, maps, 0, steps=4, baseline=torch.full((1, 8, 8), 0.25))
    c = attribution.deletion_curves(model, images, maps, 0, steps=4, baseline=torch.full((4, 1, 8, 8), 0.25))
    assert torch.equal(a, b) and torch.equal(a, c)


def _reference_spearman(x, y):
    def ranks(v):
        # average ranks by brute force: rank = (#smaller) + (#equal - 1) / 2
        return torch.tensor([float((v < e).sum()) + (float((v == e).sum()) - 1) / 2 for e in v], dtype=torch.float64)

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()))


def test_spearman_matches_brute_force_with_ties():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 4, (3, 5, 5), generator=g).float()  # many ties
    b = torch.randn(3, 5, 5, generator=g)
    rho = attribution.spearman(a, b)
    pairs = zip(a, b, strict=True)
    expected = torch.tensor([_reference_spearman(x.flatten(), y.flatten()) for x, y in pairs], dtype=torch.float64)
    assert torch.allclose(rho.double(), expected, atol=1e-6)
    assert torch.allclose(attribution.spearman(b, b), torch.ones(3))
    assert torch.allclose(attribution.spearman(b, -b), -torch.ones(3))
    assert torch.allclose(attribution.spearman(b, b.exp()), torch.ones(3))  # ranks only: monotone maps agree


def test_spearman_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        attribution.spearman(torch.zeros(2, 4, 4), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="NaN"):
        attribution.spearman(torch.tensor([[0.0, float("nan")]]), torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\)"):
        attribution.spearman(torch.zeros(4), torch.zeros(4))


def test_baseline_explanations():
    images = torch.zeros(2, 3, 6, 6)
    images[:, :, :, 3:] = 1.0  # a vertical edge between columns 2 and 3
    edges = attribution.edge_attribution(images)
    assert edges.shape == (2, 6, 6) and edges[:, :, 2:4].min() > 0 and edges[:, :, 0].abs().max() == 0
    noise = attribution.random_attribution(images, seed=3)
    assert noise.shape == (2, 6, 6) and torch.equal(noise, attribution.random_attribution(images, seed=3))
    with pytest.raises(ValueError):
        attribution.edge_attribution(torch.zeros(6, 6))
