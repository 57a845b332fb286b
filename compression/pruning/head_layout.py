"""Where one attention head lives in the tensors of the zoo's ``MultiHeadSelfAttention``.

The forward splits qkv's outputs as ``[q of all heads | k of all heads | v of all heads]``
and reshapes each part to (heads, width), so inside each part the rows are head-major; proj
reads the v part's layout back. Head ``h`` therefore owns q rows ``h*kd ..``, k rows
``H*kd + h*kd ..``, v rows ``2*H*kd + h*vd ..`` of qkv and the same v positions as proj's
input columns (kd/vd: the per-head key/value widths, H: the head count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def _span(start: int, width: int, heads: Sequence[int]) -> list[int]:
    return [start + h * width + i for h in heads for i in range(width)]


def qkv_rows(attn: nn.Module, heads: Sequence[int]) -> torch.Tensor:
    """qkv output rows (q, k and v) of ``heads``, in the order the pruned layer keeps them."""
    key_total = attn.key_dim * attn.num_heads
    rows = _span(0, attn.key_dim, heads) + _span(key_total, attn.key_dim, heads)
    rows += _span(2 * key_total, attn.value_dim, heads)
    return torch.tensor(rows, dtype=torch.long)


def proj_columns(attn: nn.Module, heads: Sequence[int]) -> torch.Tensor:
    """proj input columns (the concatenated head values) of ``heads``."""
    return torch.tensor(_span(0, attn.value_dim, heads), dtype=torch.long)


def layout_mismatch(attn: nn.Module) -> str | None:
    """Why ``attn``'s tensors do not follow the head layout (None when they do)."""
    n, kd, vd = attn.num_heads, attn.key_dim, attn.value_dim
    expected = [kd * n, kd * n, vd * n]
    if list(attn.split) != expected:
        return f"split {list(attn.split)} is not {expected} for {n} heads of key {kd} / value {vd}"
    if attn.qkv.out_features != sum(expected) or attn.proj.in_features != vd * n:
        return f"qkv has {attn.qkv.out_features} outputs and proj {attn.proj.in_features} inputs for {n} heads"
    return None


def per_head(attn: nn.Module, pick: Callable[[nn.Parameter], torch.Tensor | None]) -> torch.Tensor | None:
    """(heads, k) matrix: row ``h`` holds ``pick(param)`` over everything head ``h`` owns in qkv and proj.

    ``pick`` maps a parameter to a same-shaped tensor (its data, its gradient); None from
    ``pick`` for any parameter makes the whole result None.
    """
    qkv_w, proj_w = pick(attn.qkv.weight), pick(attn.proj.weight)
    qkv_b = pick(attn.qkv.bias) if attn.qkv.bias is not None else torch.empty(attn.qkv.out_features, 0)
    if qkv_w is None or proj_w is None or qkv_b is None:
        return None
    qkv_b = qkv_b.reshape(attn.qkv.out_features, -1)
    rows = []
    for h in range(attn.num_heads):
        r, c = qkv_rows(attn, [h]), proj_columns(attn, [h])
        rows.append(torch.cat([qkv_w[r].flatten(), qkv_b[r].flatten(), proj_w[:, c].flatten()]))
    return torch.stack(rows).detach()
