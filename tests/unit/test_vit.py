import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import baselines, vit


def test_build_and_shapes():
    model = vit.build_model("tiny_vit")
    x = torch.randn(3, 1, 28, 28)
    logits, attentions = model.forward_with_attention(x)
    assert logits.shape == (3, 10) and len(attentions) == 2
    assert all(a.shape == (3, 4, 17, 17) for a in attentions)
    assert torch.allclose(attentions[0].sum(-1), torch.ones(3, 4, 17), atol=1e-5)
    assert torch.equal(model(x), logits)
    with pytest.raises(ValueError, match="unknown model 'vit_huge'"):
        vit.build_model("vit_huge")


def test_bad_inputs():
    model = vit.build_model("tiny_vit")
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\)"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="divisible by heads"):
        vit.MultiHeadSelfAttention(10, 3)
    with pytest.raises(ValueError, match="not a multiple of patch_size"):
        vit.PatchEmbedding(28, 5)


def test_attention_matches_torch():
    torch.manual_seed(0)
    attn = vit.MultiHeadSelfAttention(16, 4)
    x = torch.randn(2, 5, 16)
    out, weights = attn(x, return_attention=True)
    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.qkv.weight)
        mha.in_proj_bias.copy_(attn.qkv.bias)
        mha.out_proj.weight.copy_(attn.proj.weight)
        mha.out_proj.bias.copy_(attn.proj.bias)
    ref, ref_weights = mha(x, x, x, average_attn_weights=False)
    assert torch.allclose(out, ref, atol=1e-5) and torch.allclose(weights, ref_weights, atol=1e-6)
    q, k, v = attn.qkv(x).view(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
    sdpa = attn.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 5, 16))
    assert torch.allclose(out, sdpa, atol=1e-5)


def test_registered_as_a_cached_baseline():
    spec = baselines.BASELINES["tiny_vit_mnist"]
    assert spec.module == "vit" and "vit.py" in spec.code
    assert isinstance(spec.build(), vit.TinyViT)
    assert baselines.baseline_config("tiny_vit_mnist", quick=True)["epochs"] == 1


def test_learns_a_toy_task():
    torch.manual_seed(0)
    model = vit.TinyViT(image_size=8, patch_size=4, num_classes=2, dim=16, depth=1, heads=2)
    x = torch.randn(64, 1, 8, 8)
    y = (x[:, 0, :4, :4].mean((1, 2)) > 0).long()  # the class lives in the top-left patch
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(x).argmax(1) == y).float().mean() > 0.9
