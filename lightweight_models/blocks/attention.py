"""Transformer encoder pieces: multi-head self-attention, MLP, layer scale and the
pre-norm encoder layer (MobileViT's global representation, EfficientFormer's Meta3D).

Attention is written with explicit MatMul/Softmax (no fused SDPA kernel) so that the
exported ONNX graph contains only ops the bundled engine implements.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from lightweight_models.args import check_positive
from lightweight_models.blocks.activations import get_activation
from lightweight_models.blocks.structure import ChannelLock, HeadLayout, per_head_params


class MultiHeadSelfAttention(nn.Module):
    """Tokens (B, N, C) -> (B, N, C).

    ``key_dim``/``value_dim`` are per-head widths; by default both are ``dim // num_heads``
    (the ViT layout). EfficientFormer uses narrow keys (32) and wide values (4x),
    which is why they are separate. ``bias`` is an optional module returning an
    additive (heads, N, N) term for the attention logits (relative position bias).
    """

    # the forward reshapes by these: a pruned attention reloads only if they are recorded
    shape_attrs: ClassVar[tuple[str, ...]] = ("num_heads", "split")

    def __init__(
        self,
        dim: int,
        num_heads: int,
        key_dim: int | None = None,
        value_dim: int | None = None,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        bias: nn.Module | None = None,
    ) -> None:
        super().__init__()
        check_positive("num_heads", num_heads)
        if (key_dim is None or value_dim is None) and dim % num_heads:
            raise ValueError(f"MultiHeadSelfAttention: num_heads={num_heads} does not divide dim={dim}")
        self.num_heads = num_heads
        self.key_dim = key_dim or dim // num_heads
        self.value_dim = value_dim or dim // num_heads
        self.scale = self.key_dim**-0.5
        key_total, value_total = self.key_dim * num_heads, self.value_dim * num_heads
        # one projection for q, k and v: [q of all heads | k of all heads | v of all heads]
        self.split = [key_total, key_total, value_total]
        self.qkv = nn.Linear(dim, sum(self.split), bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(value_total, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.bias = bias

    def pruning_locks(self) -> list[ChannelLock]:
        # single channels would shift the split into heads and mix them; whole heads go instead
        return [ChannelLock(self.qkv, "q/k/v are split by stored head widths (whole heads are pruned instead)")]

    def head_layout(self) -> HeadLayout:
        per_head: tuple[tuple[nn.Module, str, int], ...] = ()
        opaque: tuple[nn.Module, ...] = ()
        if self.bias is not None:
            declared = per_head_params(self.bias)
            per_head, opaque = (declared, ()) if declared is not None else ((), (self.bias,))
        return HeadLayout(self.num_heads, self.key_dim, self.value_dim, self.qkv, self.proj, per_head, opaque)

    def set_num_heads(self, num_heads: int) -> None:
        """After qkv, proj and the bias lost the slices of removed heads; key_dim, value_dim and so the
        softmax scale stay."""
        self.num_heads = num_heads
        key_total, value_total = self.key_dim * num_heads, self.value_dim * num_heads
        self.split = [key_total, key_total, value_total]
        set_bias_heads = getattr(self.bias, "set_num_heads", None)
        if set_bias_heads is not None:
            set_bias_heads(num_heads)

    def _heads(self, t: torch.Tensor, tokens: int, width: int) -> torch.Tensor:
        # (B, N, heads*width) -> (B, heads, N, width); batch stays -1 for a dynamic ONNX batch
        return t.reshape(-1, tokens, self.num_heads, width).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.shape[1]
        q, k, v = self.qkv(x).split(self.split, dim=-1)
        q = self._heads(q, tokens, self.key_dim) * self.scale
        k = self._heads(k, tokens, self.key_dim)
        v = self._heads(v, tokens, self.value_dim)
        attn = torch.matmul(q, k.transpose(-2, -1))
        if self.bias is not None:
            attn = attn + self.bias()
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2).reshape(-1, tokens, self.num_heads * self.value_dim)
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    """Linear -> activation -> dropout -> Linear -> dropout (the transformer feed-forward)."""

    def __init__(self, dim: int, hidden_dim: int, act: str = "gelu", drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = get_activation(act)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class LayerScale(nn.Module):
    """Learned per-channel scale of a residual branch (CaiT); channels last."""

    def __init__(self, dim: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class TransformerEncoderLayer(nn.Module):
    """Pre-norm encoder layer: x + attn(norm(x)), then x + mlp(norm(x)).

    ``layer_scale_init`` (EfficientFormer) scales both residual branches by a
    learned vector; None leaves them unscaled (ViT, MobileViT).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        act: str = "gelu",
        qkv_bias: bool = True,
        key_dim: int | None = None,
        value_dim: int | None = None,
        attn_bias: nn.Module | None = None,
        layer_scale_init: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(
            dim, num_heads, key_dim, value_dim, qkv_bias, attn_drop=attn_drop, proj_drop=drop, bias=attn_bias
        )
        self.ls1 = LayerScale(dim, layer_scale_init) if layer_scale_init is not None else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act, drop)
        self.ls2 = LayerScale(dim, layer_scale_init) if layer_scale_init is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))
