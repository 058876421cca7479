"""Head and neuron importance (Michel et al. 2019), global ranking, and shrinking a TinyViT for real."""

import pytest
import torch
import torch.nn.functional as F

from course_utils import head_pruning
from course_utils.data import ImageData
from course_utils.vit import TinyViT


def _data(n: int = 40, seed: int = 0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    return ImageData("toy", images, torch.randint(0, 10, (n,), generator=g), tuple(str(i) for i in range(10)), (0.13,), (0.31,))


def _model() -> TinyViT:
    torch.manual_seed(0)
    return TinyViT(dim=32, depth=2, heads=4, mlp_ratio=2).eval()


def test_importance_equals_the_gradient_of_an_explicit_gate():
    model, data = _model(), _data()
    heads, neurons = head_pruning.importance(model, data, batch_size=16, normalise=False)
    x, y = data.tensors()
    gate = torch.ones(len(y), 1, 4, requires_grad=True)  # one gate per image and head of block 0
    handle = model.blocks[0].attn.proj.register_forward_pre_hook(lambda m, a: (a[0] * gate.repeat_interleave(8, -1),))
    try:
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), gate)
    finally:
        handle.remove()
    assert torch.allclose(heads[0], grad.abs().sum((0, 1)) / len(y), rtol=1e-4, atol=1e-8)
    assert [len(h) for h in heads] == [4, 4] and [len(n) for n in neurons] == [64, 64]
    normalised, _ = head_pruning.importance(model, data, batch_size=16)
    assert torch.allclose(normalised[0].norm(), torch.tensor(1.0))


def test_keep_top_ranks_globally_and_keeps_one_per_layer():
    scores = [torch.tensor([0.1, 0.2, 0.9]), torch.tensor([0.05, 0.01])]
    assert [k.tolist() for k in head_pruning.keep_top(scores, 0.4)] == [[1, 2], [0]]
    assert [k.tolist() for k in head_pruning.keep_top(scores, 0.8)] == [[2], [0]]  # each layer keeps its best one
    with pytest.raises(ValueError, match="fraction"):
        head_pruning.keep_top(scores, 1.0)


def test_shrink_equals_zeroing_the_removed_units_and_is_smaller():
    model, x = _model(), _data().tensors()[0]
    keep_heads, keep_neurons = [torch.tensor([0, 3]), torch.tensor([1])], [torch.arange(0, 64, 2), torch.tensor([5, 9])]
    small = head_pruning.shrink(model, keep_heads, keep_neurons)
    zeroed = head_pruning.zero_units(model, keep_heads, keep_neurons)
    with torch.no_grad():
        assert (small(x) - zeroed(x)).abs().max() < 1e-5
        assert (small(x) - model(x)).abs().max() > 1e-3  # something was removed
    assert small.blocks[1].attn.qkv.out_features == 3 * 8 and small.blocks[1].attn.proj.in_features == 8
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="keep_heads"):
        head_pruning.shrink(model, [torch.tensor([4]), torch.tensor([0])], keep_neurons)
