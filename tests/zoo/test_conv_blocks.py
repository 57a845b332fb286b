"""Unit tests of the MobileNet-style blocks: shapes, strides, when the shortcut
exists, parameter counts of known configurations, gradient flow."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightweight_models.blocks import (
    DepthwiseSeparableConv,
    GhostBottleneck,
    GhostModule,
    InvertedResidual,
    UniversalInvertedBottleneck,
)


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _silence_last_bn(bn: nn.BatchNorm2d) -> None:
    """Make the residual branch output exactly zero, so a block with a shortcut returns its input."""
    with torch.no_grad():
        bn.weight.zero_()
        bn.bias.zero_()


def _assert_grads_flow(block: nn.Module, x: torch.Tensor) -> None:
    x = x.clone().requires_grad_(True)
    block.train()
    block(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in block.named_parameters():
        assert p.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in block.parameters())


# ---- depthwise-separable conv ---------------------------------------------------------------


def test_dsconv_shape_stride_and_params() -> None:
    block = DepthwiseSeparableConv(8, 16, 3, stride=2)
    assert block(torch.randn(2, 8, 16, 16)).shape == (2, 16, 8, 8)
    # dw 8*3*3 + BN 2*8, pw 8*16 + BN 2*16
    assert _params(block) == 72 + 16 + 128 + 32
    assert not block.has_skip


def test_dsconv_with_se_adds_its_params() -> None:
    plain = DepthwiseSeparableConv(8, 16)
    with_se = DepthwiseSeparableConv(8, 16, se_channels=4)
    # reduce 8->4 (+bias), expand 4->8 (+bias)
    assert _params(with_se) - _params(plain) == 8 * 4 + 4 + 4 * 8 + 8


@pytest.mark.parametrize(
    ("in_chs", "out_chs", "stride", "residual", "skip"),
    [(8, 8, 1, True, True), (8, 8, 2, True, False), (8, 16, 1, True, False), (8, 8, 1, False, False)],
)
def test_dsconv_shortcut_only_when_shapes_allow(in_chs, out_chs, stride, residual, skip) -> None:
    block = DepthwiseSeparableConv(in_chs, out_chs, stride=stride, residual=residual)
    assert block.has_skip is skip


def test_dsconv_shortcut_is_the_identity() -> None:
    block = DepthwiseSeparableConv(8, 8).eval()
    _silence_last_bn(block.conv_pw.bn)
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(block(x), x)


def test_dsconv_linear_pointwise() -> None:
    assert isinstance(DepthwiseSeparableConv(8, 16, pw_act=False).conv_pw.act, nn.Identity)
    assert isinstance(DepthwiseSeparableConv(8, 16, act="relu6").conv_pw.act, nn.ReLU6)


def test_dsconv_gradients_flow() -> None:
    _assert_grads_flow(DepthwiseSeparableConv(8, 8, se_channels=4), torch.randn(2, 8, 6, 6))


# ---- inverted residual ----------------------------------------------------------------------


def test_inverted_residual_params_of_a_known_config() -> None:
    block = InvertedResidual(16, 16, 64, 3)
    # expand 16*64 + BN, dw 64*9 + BN, project 64*16 + BN
    assert _params(block) == 1024 + 128 + 576 + 128 + 1024 + 32
    assert block.has_skip


def test_inverted_residual_stride_and_shapes() -> None:
    block = InvertedResidual(16, 24, 96, 5, stride=2)
    assert block(torch.randn(2, 16, 15, 15)).shape == (2, 24, 8, 8)
    assert not block.has_skip
    assert block.conv_dw.conv.groups == 96 and block.conv_dw.conv.kernel_size == (5, 5)


def test_inverted_residual_without_expansion_has_no_expand_conv() -> None:
    block = InvertedResidual(16, 16, 16)
    assert isinstance(block.conv_pw, nn.Identity)
    assert isinstance(InvertedResidual(16, 16, 32).conv_pw, nn.Module)


def test_inverted_residual_projection_is_linear_and_se_is_optional() -> None:
    block = InvertedResidual(16, 16, 64, se_channels=16, se_act="relu", se_gate="hsigmoid")
    assert isinstance(block.conv_pwl.act, nn.Identity)
    assert isinstance(block.se.gate, nn.Hardsigmoid)
    assert isinstance(InvertedResidual(16, 16, 64).se, nn.Identity)


def test_inverted_residual_shortcut_is_the_identity() -> None:
    block = InvertedResidual(8, 8, 32).eval()
    _silence_last_bn(block.conv_pwl.bn)
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(block(x), x)
    assert not InvertedResidual(8, 8, 32, residual=False).has_skip


def test_inverted_residual_rejects_empty_widths() -> None:
    with pytest.raises(ValueError, match="mid_chs"):
        InvertedResidual(8, 8, 0)


def test_inverted_residual_gradients_flow() -> None:
    _assert_grads_flow(InvertedResidual(8, 8, 24, se_channels=8, act="hswish"), torch.randn(2, 8, 6, 6))


# ---- ghost module / bottleneck --------------------------------------------------------------


def test_ghost_module_params_and_shape() -> None:
    module = GhostModule(16, 32)
    # primary 1x1 16->16 + BN, cheap dw 3x3 on 16 + BN
    assert _params(module) == 256 + 32 + 144 + 32
    assert module(torch.randn(2, 16, 7, 7)).shape == (2, 32, 7, 7)


def test_ghost_module_trims_odd_widths() -> None:
    module = GhostModule(8, 15)
    assert module.trim
    assert module(torch.randn(2, 8, 5, 5)).shape == (2, 15, 5, 5)
    assert not GhostModule(8, 16).trim


def test_ghost_module_output_starts_with_the_intrinsic_maps() -> None:
    module = GhostModule(8, 16).eval()
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(module(x)[:, :8], module.primary_conv(x))


def test_ghost_module_rejects_ratio_below_two() -> None:
    with pytest.raises(ValueError, match="ratio"):
        GhostModule(8, 16, ratio=1)


def test_ghost_bottleneck_identity_shortcut() -> None:
    block = GhostBottleneck(16, 48, 16).eval()
    assert isinstance(block.shortcut, nn.Identity) and isinstance(block.conv_dw, nn.Identity)
    _silence_last_bn(block.ghost2.primary_conv.bn)
    _silence_last_bn(block.ghost2.cheap_operation.bn)
    x = torch.randn(2, 16, 6, 6)
    torch.testing.assert_close(block(x), x)


def test_ghost_bottleneck_strided_uses_projection_shortcut() -> None:
    block = GhostBottleneck(24, 72, 40, kernel_size=5, stride=2, se_channels=20)
    assert block(torch.randn(2, 24, 14, 14)).shape == (2, 40, 7, 7)
    assert isinstance(block.shortcut, nn.Sequential)
    assert block.conv_dw.conv.stride == (2, 2)
    # same layer as timm ghostnet_100 blocks[3]: ghost1 24->72, dw 5x5, SE 72/20, ghost2 72->40, shortcut
    ghost1 = 24 * 36 + 72 + 36 * 9 + 72
    dw = 72 * 25 + 144
    se = 72 * 20 + 20 + 20 * 72 + 72
    ghost2 = 72 * 20 + 40 + 20 * 9 + 40
    shortcut = 24 * 25 + 48 + 24 * 40 + 80
    assert _params(block) == ghost1 + dw + se + ghost2 + shortcut


def test_ghost_bottleneck_gradients_flow() -> None:
    _assert_grads_flow(GhostBottleneck(8, 24, 16, stride=2, se_channels=8), torch.randn(2, 8, 8, 8))


# ---- universal inverted bottleneck ----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "mid", "has_start", "has_mid"),
    [(3, 3, True, True), (0, 3, False, True), (3, 0, True, False), (0, 0, False, False)],
    ids=["extra_dw", "inverted_bottleneck", "convnext", "ffn"],
)
def test_uib_instantiations(start, mid, has_start, has_mid) -> None:
    block = UniversalInvertedBottleneck(16, 16, 64, start, mid)
    assert (not isinstance(block.dw_start, nn.Identity)) is has_start
    assert (not isinstance(block.dw_mid, nn.Identity)) is has_mid
    assert block.has_skip
    assert block(torch.randn(2, 16, 7, 7)).shape == (2, 16, 7, 7)


def test_uib_stride_goes_to_mid_depthwise_when_present() -> None:
    extra_dw = UniversalInvertedBottleneck(16, 24, 48, 5, 5, stride=2)
    assert extra_dw.dw_start.conv.stride == (1, 1) and extra_dw.dw_mid.conv.stride == (2, 2)
    convnext = UniversalInvertedBottleneck(16, 24, 48, 3, 0, stride=2)
    assert convnext.dw_start.conv.stride == (2, 2)
    assert convnext(torch.randn(2, 16, 9, 9)).shape == (2, 24, 5, 5)
    assert not convnext.has_skip


def test_uib_params_of_a_known_config() -> None:
    # timm mobilenetv4_conv_small, stage 2 block 0: start dw 5x5 on 64, 64->192, mid dw 5x5 s2, 192->96
    block = UniversalInvertedBottleneck(64, 96, 192, 5, 5, stride=2)
    expected = (64 * 25 + 128) + (64 * 192 + 384) + (192 * 25 + 384) + (192 * 96 + 192)
    assert _params(block) == expected


def test_uib_start_depthwise_is_linear() -> None:
    block = UniversalInvertedBottleneck(16, 16, 64, 3, 3)
    assert isinstance(block.dw_start.act, nn.Identity)
    assert isinstance(block.pw_proj.act, nn.Identity)
    assert isinstance(block.dw_mid.act, nn.ReLU)


def test_uib_ffn_cannot_downsample() -> None:
    with pytest.raises(ValueError, match="stride"):
        UniversalInvertedBottleneck(16, 16, 64, 0, 0, stride=2)
    with pytest.raises(ValueError, match="kernel"):
        UniversalInvertedBottleneck(16, 16, 64, -1, 3)


def test_uib_gradients_flow() -> None:
    _assert_grads_flow(UniversalInvertedBottleneck(8, 8, 32, 3, 5), torch.randn(2, 8, 6, 6))
