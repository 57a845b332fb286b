"""MobileViT block (Mehta & Rastegari, ICLR 2022): convolutions for local features,
a transformer across patches for global ones ("transformers as convolutions")."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from lightweight_models.args import check_positive
from lightweight_models.blocks.attention import TransformerEncoderLayer
from lightweight_models.blocks.conv import ConvNormAct
from lightweight_models.blocks.structure import ChannelLock


def static_hw(x: torch.Tensor) -> tuple[int, int]:
    """(H, W) of an NCHW tensor as Python ints.

    Exports fix the spatial size (only the batch is dynamic), so baking H and W into
    the trace as constants is intended; the tracer's warning about it is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return int(x.shape[-2]), int(x.shape[-1])


def unfold_patches(x: torch.Tensor, patch: int, channels: int, height: int, width: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * patch^2, N, C): one sequence of N = (H/p)(W/p) tokens per
    position inside a patch, so attention relates the same pixel of every patch.

    One 6-D reshape/permute (instead of the reference's chain of 4-D ones) keeps
    the batch axis free (-1) for a dynamic ONNX batch; the other sizes are passed
    as Python ints so the exported Reshape gets constant shapes.
    """
    nh, nw = height // patch, width // patch
    x = x.reshape(-1, channels, nh, patch, nw, patch).permute(0, 3, 5, 2, 4, 1)
    return x.reshape(-1, nh * nw, channels)


def fold_patches(x: torch.Tensor, patch: int, channels: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`unfold_patches` for a (height, width) map divisible by ``patch``."""
    nh, nw = height // patch, width // patch
    x = x.reshape(-1, patch, patch, nh, nw, channels).permute(0, 5, 3, 1, 4, 2)
    return x.reshape(-1, channels, height, width)


class MobileViTBlock(nn.Module):
    """local rep (3x3 conv, 1x1 to transformer_dim) -> unfold into patches -> transformer
    layers + LayerNorm -> fold -> 1x1 projection -> fusion (3x3 conv over [input, output]).

    A feature map whose side is not a multiple of ``patch_size`` is resized
    (bilinear) up to the next multiple before unfolding and back afterwards, as
    the reference does. The branch depends only on static shapes, so an exported
    graph for a fixed input contains the Resize only where it is needed (never
    at 256 px or at the 32 px small-input size, where every map divides).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        transformer_dim: int,
        depth: int,
        patch_size: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        act: str = "silu",
        drop: float = 0.0,
    ) -> None:
        super().__init__()
        for arg, value in (("in_chs", in_chs), ("out_chs", out_chs), ("transformer_dim", transformer_dim),
                           ("depth", depth), ("patch_size", patch_size)):
            check_positive(f"MobileViTBlock {arg}", value)
        self.conv_kxk = ConvNormAct(in_chs, in_chs, 3, act=act)
        self.conv_1x1 = ConvNormAct(in_chs, transformer_dim, 1, norm=False, act=None, bias=False)
        self.transformer = nn.Sequential(
            *[TransformerEncoderLayer(transformer_dim, num_heads, mlp_ratio, act=act, drop=drop)
              for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(transformer_dim)
        self.conv_proj = ConvNormAct(transformer_dim, out_chs, 1, act=act)
        self.conv_fusion = ConvNormAct(in_chs + out_chs, out_chs, 3, act=act)
        self.patch_size = patch_size
        self.in_chs, self.out_chs, self.transformer_dim = in_chs, out_chs, transformer_dim

    def pruning_locks(self) -> list[ChannelLock]:
        return [ChannelLock(self.conv_1x1.conv, "width is the stored transformer_dim used to unfold patches")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.conv_1x1(self.conv_kxk(x))
        height, width = static_hw(x)
        p = self.patch_size
        padded_h, padded_w = -(-height // p) * p, -(-width // p) * p
        resize = (padded_h, padded_w) != (height, width)
        if resize:
            x = F.interpolate(x, size=(padded_h, padded_w), mode="bilinear", align_corners=False)
        x = unfold_patches(x, p, self.transformer_dim, padded_h, padded_w)
        x = self.norm(self.transformer(x))
        x = fold_patches(x, p, self.transformer_dim, padded_h, padded_w)
        if resize:
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        x = self.conv_proj(x)
        return self.conv_fusion(torch.cat((shortcut, x), dim=1))
