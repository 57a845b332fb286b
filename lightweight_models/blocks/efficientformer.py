"""EfficientFormer blocks (Li et al., NeurIPS 2022): Meta4D (pooling token mixer + conv MLP
on NCHW maps) and Meta3D (multi-head attention with a learned relative-position bias on
tokens), plus the NCHW -> tokens step between them."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from lightweight_models.args import check_positive
from lightweight_models.blocks.attention import TransformerEncoderLayer
from lightweight_models.blocks.conv import ConvNormAct


class PoolMixer(nn.Module):
    """PoolFormer token mixer: avg_pool(x) - x (the block adds x back as its residual)."""

    def __init__(self, pool_size: int = 3) -> None:
        super().__init__()
        # count_include_pad=False: border pixels average only real neighbours
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) - x


class LayerScale2d(nn.Module):
    """Learned per-channel scale of a residual branch on an NCHW map."""

    def __init__(self, dim: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.reshape(1, -1, 1, 1)


class Meta4D(nn.Module):
    """x + ls1 * pool_mixer(x), then x + ls2 * conv_mlp(x) (1x1 conv, BN, GELU, 1x1 conv, BN)."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0, pool_size: int = 3,
                 layer_scale_init: float = 1e-5, act: str = "gelu") -> None:
        super().__init__()
        check_positive("Meta4D dim", dim)
        hidden = int(dim * mlp_ratio)
        self.token_mixer = PoolMixer(pool_size)
        self.ls1 = LayerScale2d(dim, layer_scale_init)
        # the reference keeps the conv biases although BN follows (parameter parity)
        self.mlp = nn.Sequential(
            ConvNormAct(dim, hidden, 1, act=act, bias=True),
            ConvNormAct(hidden, dim, 1, act=None, bias=True),
        )
        self.ls2 = LayerScale2d(dim, layer_scale_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.token_mixer(x))
        return x + self.ls2(self.mlp(x))


class RelativePositionBias(nn.Module):
    """Per-head bias for the attention logits, indexed by the |dy|, |dx| offset of two tokens
    on a ``grid`` x ``grid`` map; the table covers offsets up to ``resolution`` - 1.

    The bias only depends on parameters and a constant index, so an ONNX export folds
    it into one constant tensor (index_select + reshape folds; 2-D advanced indexing
    would leave a Gather in the graph).
    """

    # one table row per head: removing a head removes its row
    head_params: ClassVar[dict[str, int]] = {"table": 0}
    shape_attrs: ClassVar[tuple[str, ...]] = ("num_heads",)

    def __init__(self, num_heads: int, resolution: int, grid: int) -> None:
        super().__init__()
        check_positive("grid", grid)
        if grid > resolution:
            raise ValueError(f"RelativePositionBias: grid={grid} exceeds the table resolution={resolution}")
        self.table = nn.Parameter(torch.zeros(num_heads, resolution * resolution))
        ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()
        index = (ys[:, None] - ys[None, :]).abs() * resolution + (xs[:, None] - xs[None, :]).abs()
        self.register_buffer("index", index.flatten(), persistent=False)
        self.num_heads, self.tokens, self.grid = num_heads, grid * grid, grid

    def set_num_heads(self, num_heads: int) -> None:
        """After the table lost the rows of removed heads."""
        self.num_heads = num_heads

    def forward(self) -> torch.Tensor:
        return self.table.index_select(1, self.index).reshape(self.num_heads, self.tokens, self.tokens)


class Meta3D(TransformerEncoderLayer):
    """EfficientFormer's transformer block: narrow keys (32 per head), values 4x wider,
    a relative-position bias, GELU MLP and layer scale on both branches."""

    def __init__(self, dim: int, grid: int, resolution: int = 7, num_heads: int = 8, key_dim: int = 32,
                 attn_ratio: float = 4.0, mlp_ratio: float = 4.0, layer_scale_init: float = 1e-5) -> None:
        super().__init__(
            dim,
            num_heads,
            mlp_ratio=mlp_ratio,
            act="gelu",
            key_dim=key_dim,
            value_dim=int(attn_ratio * key_dim),
            attn_bias=RelativePositionBias(num_heads, resolution, grid),
            layer_scale_init=layer_scale_init,
        )


class GridToTokens(nn.Module):
    """(B, C, H, W) -> (B, H*W, C) for a map of the ``grid`` x ``grid`` size the attention
    bias was built for; any other size is rejected with the fix (pass input_size).

    The sizes are constructor constants, so the export gets a constant-shape Reshape.
    """

    channel_barrier: ClassVar[str] = "reshapes by its stored channel count"

    def __init__(self, channels: int, grid: int) -> None:
        super().__init__()
        self.channels, self.grid = channels, grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and tuple(x.shape[-2:]) != (self.grid, self.grid):
            raise ValueError(
                f"EfficientFormer attention was built for a {self.grid}x{self.grid} last feature map but got "
                f"{tuple(x.shape[-2:])}; construct the model with input_size set to the image size"
            )
        return x.reshape(-1, self.channels, self.grid * self.grid).transpose(1, 2)
