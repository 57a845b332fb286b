"""Where one attention head lives in the tensors of an attention, read from the ``HeadLayout`` the
attention declares (``lightweight_models.blocks.structure``).

qkv's outputs are ``[q of all heads | k of all heads | v of all heads]``, head-major inside each part;
proj reads the v part's layout back. Head ``h`` therefore owns q rows ``h*kd ..``, k rows
``H*kd + h*kd ..``, v rows ``2*H*kd + h*vd ..`` of qkv and the same v positions as proj's input columns
(kd/vd: the per-head key/value widths, H: the head count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from lightweight_models.blocks.structure import HeadLayout


def _span(start: int, width: int, heads: Sequence[int]) -> list[int]:
    return [start + h * width + i for h in heads for i in range(width)]


def qkv_rows(layout: HeadLayout, heads: Sequence[int]) -> torch.Tensor:
    """qkv output rows (q, k and v) of ``heads``, in the order the pruned layer keeps them."""
    key_total = layout.key_dim * layout.num_heads
    rows = _span(0, layout.key_dim, heads) + _span(key_total, layout.key_dim, heads)
    rows += _span(2 * key_total, layout.value_dim, heads)
    return torch.tensor(rows, dtype=torch.long)


def proj_columns(layout: HeadLayout, heads: Sequence[int]) -> torch.Tensor:
    """proj input columns (the concatenated head values) of ``heads``."""
    return torch.tensor(_span(0, layout.value_dim, heads), dtype=torch.long)


def layout_mismatch(layout: HeadLayout) -> str | None:
    """Why the attention's tensors do not follow its declared head layout (None when they do)."""
    n, kd, vd = layout.num_heads, layout.key_dim, layout.value_dim
    if layout.qkv.out_features != (2 * kd + vd) * n or layout.proj.in_features != vd * n:
        return (f"qkv has {layout.qkv.out_features} outputs and proj {layout.proj.in_features} inputs "
                f"for {n} heads of key {kd} / value {vd}")
    for owner, name, axis in layout.per_head:
        size = getattr(owner, name).shape[axis]
        if size != n:
            return f"{type(owner).__name__}.{name} has {size} head slices on axis {axis} for {n} heads"
    return None


def per_head(layout: HeadLayout, pick: Callable[[nn.Parameter], torch.Tensor | None]) -> torch.Tensor | None:
    """(heads, k) matrix: row ``h`` holds ``pick(param)`` over everything head ``h`` owns in qkv and proj.

    ``pick`` maps a parameter to a same-shaped tensor (its data, its gradient); None from
    ``pick`` for any parameter makes the whole result None.
    """
    qkv, proj = layout.qkv, layout.proj
    qkv_w, proj_w = pick(qkv.weight), pick(proj.weight)
    qkv_b = pick(qkv.bias) if qkv.bias is not None else torch.empty(qkv.out_features, 0)
    if qkv_w is None or proj_w is None or qkv_b is None:
        return None
    qkv_b = qkv_b.reshape(qkv.out_features, -1)
    rows = []
    for h in range(layout.num_heads):
        r, c = qkv_rows(layout, [h]), proj_columns(layout, [h])
        rows.append(torch.cat([qkv_w[r].flatten(), qkv_b[r].flatten(), proj_w[:, c].flatten()]))
    return torch.stack(rows).detach()
