"""A tiny Vision Transformer for MNIST whose attention weights can be read out (notebooks 09 and 12).

Use it when a notebook needs a model with *real* attention: patch embedding, a class token, learned position
embeddings and pre-norm transformer blocks whose multi-head self-attention is written out plainly, so
``forward_with_attention`` can return every layer's softmax weights.

    model = build_model("tiny_vit")                     # 28×28×1 → 16 patches of 7×7, dim 64, 2 layers, 4 heads
    logits = model(images)                              # (B, 10)
    logits, attentions = model.forward_with_attention(images)   # attentions: one (B, heads, 17, 17) per layer

The query/key/value projection is one ``nn.Linear(dim, 3 * dim)`` packed in the order q, k, v, which is the
layout of ``nn.MultiheadAttention.in_proj_weight``, so its weights copy across unchanged. Token 0 is the class
token; tokens 1… are the patches in row-major order. The cached baseline is ``tiny_vit_mnist`` in
``course_utils.baselines``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PatchEmbedding(nn.Module):
    """Cut an image into non-overlapping ``patch_size`` squares and project each to ``dim`` (a strided conv)."""

    def __init__(self, image_size: int = 28, patch_size: int = 7, in_channels: int = 1, dim: int = 64) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.grid = image_size // patch_size
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, patches, dim), patches in row-major order


class MultiHeadSelfAttention(nn.Module):
    """softmax(Q Kᵀ / √d_head) V per head, heads concatenated and projected; optionally returns the weights."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)  # packed q, k, v: the layout of nn.MultiheadAttention.in_proj_weight
        self.proj = nn.Linear(dim, dim)  # nn.MultiheadAttention.out_proj

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, N, dim) → output (B, N, dim), and with ``return_attention`` the weights (B, heads, N, N)."""
        batch, tokens, _ = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)  # rows sum to 1
        out = self.proj((weights @ v).transpose(1, 2).reshape(batch, tokens, self.dim))
        return (out, weights) if return_attention else out


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output, attention weights)`` of this block."""
        attended, weights = self.attn(self.norm1(x), return_attention=True)
        x = x + attended
        return x + self.mlp(self.norm2(x)), weights


class TinyViT(nn.Module):
    """A Vision Transformer (Dosovitskiy et al. 2021) small enough to train on MNIST on a CPU in seconds."""

    def __init__(self, image_size: int = 28, patch_size: int = 7, in_channels: int = 1, num_classes: int = 10,
                 dim: int = 64, depth: int = 2, heads: int = 4, mlp_ratio: int = 2) -> None:  # fmt: skip
        super().__init__()
        if depth <= 0:
            raise ValueError(f"depth must be a positive number of blocks, got {depth}")
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, dim)
        self.num_patches = self.patch_embed.grid**2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, self.num_patches + 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Class token + patch embeddings + position embeddings: (B, 1 + patches, dim)."""
        patches = self.patch_embed(x)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        return torch.cat([cls, patches], dim=1) + self.pos_embed

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits, attentions)``: one (B, heads, 1 + patches, 1 + patches) weight tensor per layer."""
        h = self.tokens(x)
        attentions = []
        for block in self.blocks:
            h, weights = block(h)
            attentions.append(weights)
        return self.head(self.norm(h[:, 0])), attentions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(x)[0]


MODELS = {"tiny_vit": TinyViT}


def build_model(name: str) -> nn.Module:
    """A freshly initialised ViT by name: only ``"tiny_vit"`` (patch 7, dim 64, 2 layers, 4 heads, MNIST)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]()
