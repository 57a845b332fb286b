"""Transformer encoder pieces (attention.py) and the MobileViT block."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightweight_models.blocks import (
    LayerScale,
    Mlp,
    MobileViTBlock,
    MultiHeadSelfAttention,
    TransformerEncoderLayer,
    fold_patches,
    unfold_patches,
)
from tests.zoo.other_helpers import count_params


def test_attention_matches_pytorch_multihead_attention() -> None:
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(16, 4).eval()
    ref = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(3, 7, 16)
    expected, _ = ref(x, x, x, need_weights=False)
    assert torch.allclose(ours(x), expected, atol=1e-5)
    assert count_params(ours) == 16 * 48 + 48 + 16 * 16 + 16


def test_attention_separate_key_value_widths_and_bias() -> None:
    class ZeroBias(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.called = 0

        def forward(self) -> torch.Tensor:
            self.called += 1
            return torch.zeros(2, 5, 5)

    bias = ZeroBias()
    attn = MultiHeadSelfAttention(12, 2, key_dim=4, value_dim=8, bias=bias)
    assert attn.qkv.out_features == 2 * 4 * 2 + 8 * 2 and attn.proj.in_features == 16
    x = torch.randn(2, 5, 12, requires_grad=True)
    attn(x).sum().backward()
    assert bias.called == 1 and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="num_heads=5 does not divide dim=12"):
        MultiHeadSelfAttention(12, 5)


def test_attention_is_permutation_equivariant() -> None:
    # no position information: permuting tokens permutes the output
    attn = MultiHeadSelfAttention(8, 2).eval()
    x = torch.randn(1, 6, 8)
    perm = torch.randperm(6)
    assert torch.allclose(attn(x)[:, perm], attn(x[:, perm]), atol=1e-6)


def test_encoder_layer_params_residual_and_layer_scale() -> None:
    layer = TransformerEncoderLayer(16, 4, mlp_ratio=2.0, act="silu")
    ln, attn, mlp = 2 * 16, 16 * 48 + 48 + 16 * 16 + 16, 16 * 32 + 32 + 32 * 16 + 16
    assert count_params(layer) == 2 * ln + attn + mlp
    scaled = TransformerEncoderLayer(16, 4, layer_scale_init=0.0)
    assert count_params(scaled) == count_params(TransformerEncoderLayer(16, 4)) + 2 * 16
    x = torch.randn(2, 5, 16, requires_grad=True)
    # zero layer scale: both branches vanish and the layer is the identity
    assert torch.equal(scaled(x), x)
    layer(x).sum().backward()
    assert x.grad.abs().sum() > 0
    assert torch.equal(LayerScale(4, 2.0)(torch.ones(1, 4)), torch.full((1, 4), 2.0))
    assert Mlp(4, 8)(torch.randn(3, 4)).shape == (3, 4)


def test_unfold_fold_round_trip_and_patch_grouping() -> None:
    x = torch.randn(2, 3, 4, 6)
    tokens = unfold_patches(x, 2, 3, 4, 6)
    assert tokens.shape == (2 * 4, 2 * 3, 3)
    assert torch.equal(fold_patches(tokens, 2, 3, 4, 6), x)
    # sequence 0 of image 0 holds the top-left pixel of every 2x2 patch, in raster order
    assert torch.equal(tokens[0, :, 0], x[0, 0, ::2, ::2].flatten())


@pytest.mark.parametrize("size", [8, 7])
def test_mobilevit_block_shapes_and_gradient(size: int) -> None:
    # 7 is not divisible by the 2x2 patch: the block resizes around the transformer
    block = MobileViTBlock(16, 24, transformer_dim=32, depth=2)
    x = torch.randn(2, 16, size, size, requires_grad=True)
    out = block(x)
    assert out.shape == (2, 24, size, size)
    out.sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in block.parameters())


def test_mobilevit_block_param_count() -> None:
    block = MobileViTBlock(16, 16, transformer_dim=32, depth=1)
    conv_kxk = 16 * 16 * 9 + 2 * 16
    conv_1x1 = 16 * 32
    layer = 2 * 2 * 32 + (32 * 96 + 96 + 32 * 32 + 32) + (32 * 64 + 64 + 64 * 32 + 32)
    norm = 2 * 32
    proj = 32 * 16 + 2 * 16
    fusion = 32 * 16 * 9 + 2 * 16
    assert count_params(block) == conv_kxk + conv_1x1 + layer + norm + proj + fusion
    with pytest.raises(ValueError, match="patch_size"):
        MobileViTBlock(16, 16, 32, 1, patch_size=0)
