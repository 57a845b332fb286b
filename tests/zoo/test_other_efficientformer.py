"""EfficientFormer blocks (Meta4D, Meta3D, relative position bias) and the L1 model."""

from __future__ import annotations

import pytest
import torch

from lightweight_models import create_model, model_info
from lightweight_models.blocks import GridToTokens, Meta3D, Meta4D, PoolMixer, RelativePositionBias
from tests.zoo.other_helpers import count_macs, count_params


def test_pool_mixer_is_zero_on_constant_maps() -> None:
    # count_include_pad=False: a constant map averages to itself even at the border
    x = torch.full((1, 2, 5, 5), 3.0)
    assert torch.allclose(PoolMixer()(x), torch.zeros_like(x))


def test_meta4d_shapes_params_and_residual() -> None:
    block = Meta4D(8, mlp_ratio=4.0)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    out = block(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad.abs().sum() > 0 and block.ls2.gamma.grad is not None
    # two layer scales, conv 8->32 (+bias, BN), conv 32->8 (+bias, BN)
    assert count_params(block) == 2 * 8 + (8 * 32 + 32 + 64) + (32 * 8 + 8 + 16)
    zero = Meta4D(8, layer_scale_init=0.0).eval()
    assert torch.equal(zero(x), x)


def test_relative_position_bias_is_symmetric_in_offsets() -> None:
    bias = RelativePositionBias(num_heads=2, resolution=7, grid=3)
    with torch.no_grad():
        bias.table.copy_(torch.arange(98.0).reshape(2, 49))
    b = bias()
    assert b.shape == (2, 9, 9)
    # token 0 is (0,0), token 8 is (2,2): offset (2,2) -> table entry 2*7+2
    assert b[0, 0, 8] == 16 and b[0, 8, 0] == 16 and b[1, 4, 4] == 49
    assert count_params(bias) == 2 * 49
    with pytest.raises(ValueError, match="grid=8 exceeds"):
        RelativePositionBias(2, 7, 8)


def test_meta3d_params_and_gradient() -> None:
    block = Meta3D(64, grid=4, num_heads=2, key_dim=8)
    x = torch.randn(2, 16, 64, requires_grad=True)
    out = block(x)
    assert out.shape == (2, 16, 64)
    out.sum().backward()
    assert block.attn.bias.table.grad is not None and x.grad.abs().sum() > 0
    qkv = 64 * (8 * 2 * 2 + 32 * 2) + (8 * 2 * 2 + 32 * 2)
    proj = 64 * 64 + 64
    mlp = 64 * 256 + 256 + 256 * 64 + 64
    assert count_params(block) == 4 * 64 + 2 * 64 + qkv + proj + 2 * 49 + mlp


def test_grid_to_tokens_checks_the_grid() -> None:
    x = torch.randn(2, 5, 3, 3)
    tokens = GridToTokens(5, 3)(x)
    assert torch.equal(tokens[:, 4], x[:, :, 1, 1])
    with pytest.raises(ValueError, match="built for a 4x4 last feature map.*input_size"):
        GridToTokens(5, 4)(x)


# Reference: timm efficientformer_l1 (with its distillation head). MACs: EfficientFormer paper
# (arXiv:2206.01191) Table 1, L1: 1.3 GMACs at 224 px.
def test_efficientformer_fidelity() -> None:
    import timm

    ours = create_model("efficientformer_l1")
    ref = timm.create_model("efficientformer_l1", pretrained=False)
    assert count_params(ours) == count_params(ref)
    assert model_info("efficientformer_l1")["paper_macs_m"] == 1300
    assert abs(count_macs(ours, 224) / 1e6 - 1300) / 1300 < 0.02


@pytest.mark.parametrize("size", [28, 32])
def test_efficientformer_small_input(size: int) -> None:
    model = create_model("efficientformer_l1", small_input=True, in_chans=1, num_classes=10, input_size=size)
    assert model.total_stride == 8 and model.attention_grid == 4 and model.default_input == 224
    x = torch.randn(2, 1, size, size)
    assert model.forward_features(x).shape == (2, 16, 448)
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert model.classifier_dist.weight.grad is not None


def test_efficientformer_wrong_size_and_args() -> None:
    model = create_model("efficientformer_l1", num_classes=10)
    with pytest.raises(ValueError, match="input_size"):
        model(torch.randn(1, 3, 256, 256))
    bigger = create_model("efficientformer_l1", num_classes=10, input_size=256)
    assert bigger.attention_grid == 8 and bigger(torch.randn(1, 3, 256, 256)).shape == (1, 10)
    with pytest.raises(ValueError, match="width_mult"):
        create_model("efficientformer_l1", width_mult=0)
    with pytest.raises(ValueError, match="input_size=16"):
        create_model("efficientformer_l1", input_size=16)
