"""Attention-head pruning: whole heads out of the attentions that declare a head layout.

Channel groups never reach attention's inner widths (the attention locks qkv: single channels
would shift the split into heads and mix them). A head is removed whole instead: its q and k rows
(key_dim each) and v rows (value_dim) of qkv, its proj input columns and its slice of every per-head
parameter the layout lists (e.g. a row of the attention-bias table); the attention's
``set_num_heads`` then updates the counts its forward reshapes by. key_dim/value_dim, and so the
softmax scale, do not change. What is read and cut comes from the attention's declared
``HeadLayout`` (``lightweight_models.blocks.structure``), never from its class; the attributes that
change are its declared ``shape_attrs``, which ``shapes`` records so that the pruned model reloads
from config + checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from compression.pruning.errors import PruningError
from compression.pruning.head_importance import get_head_importance
from compression.pruning.head_layout import layout_mismatch, proj_columns, qkv_rows
from compression.pruning.selection import GroupScore
from lightweight_models.blocks.structure import HeadLayout, head_layout


def _take(module: nn.Module, name: str, index: torch.Tensor, dim: int) -> None:
    old = getattr(module, name)
    if old is not None:
        setattr(module, name, nn.Parameter(old.detach().index_select(dim, index).clone(), old.requires_grad))


def _why_fixed(layout: HeadLayout) -> str | None:
    if layout.opaque:
        kinds = ", ".join(type(m).__name__ for m in layout.opaque)
        return f"its attention bias {kinds} declares no per-head parameters (head_params)"
    return layout_mismatch(layout)


def find_attentions(model: nn.Module) -> tuple[dict[nn.Module, str], dict[str, str]]:
    """``({attention: name})`` of the attentions whose heads can be pruned, and ``{name: why not}``."""
    prunable: dict[nn.Module, str] = {}
    fixed: dict[str, str] = {}
    for name, module in model.named_modules():
        layout = head_layout(module)
        if layout is None:
            continue
        why = _why_fixed(layout)
        if why is None:
            prunable[module] = name
        else:
            fixed[name] = f"heads kept: {why}"
    return prunable, fixed


def score_heads(attentions: dict[nn.Module, str], importance: str) -> tuple[list[GroupScore], dict[str, str]]:
    """Per-head importance of every attention (mean 1 per attention, as channel scores), and
    ``{name: why}`` for attentions the criterion cannot rank (their heads stay)."""
    criterion = get_head_importance(importance)
    scores, unranked = [], {}
    for attn, name in attentions.items():
        imp = criterion.score(head_layout(attn))
        if imp is None:
            unranked[name] = f"heads kept: {criterion.why_unranked}"
            continue
        mean = imp.mean()
        # global ranking pools heads of different attentions: only relative size within one counts
        scores.append(GroupScore(attn, None, imp / mean if mean > 0 else imp))
    return scores, unranked


def remove_heads(attn: nn.Module, heads: Sequence[int]) -> None:
    """Remove ``heads`` (indices) from ``attn`` in place; at least one head must stay."""
    layout = head_layout(attn)
    if layout is None:
        raise PruningError(f"{type(attn).__name__} declares no head layout: its heads cannot be removed")
    why = _why_fixed(layout)
    if why is not None:
        raise PruningError(f"the heads of this {type(attn).__name__} cannot be removed: {why}")
    n = layout.num_heads
    drop = set(heads)
    if not drop <= set(range(n)):
        raise PruningError(f"heads {sorted(drop)} out of range for an attention with {n} heads")
    keep = [h for h in range(n) if h not in drop]
    if not keep:
        raise PruningError(f"removing heads {sorted(drop)} would leave no head of {n}")
    rows, cols = qkv_rows(layout, keep), proj_columns(layout, keep)
    _take(layout.qkv, "weight", rows, 0)
    _take(layout.qkv, "bias", rows, 0)
    layout.qkv.out_features = len(rows)
    _take(layout.proj, "weight", cols, 1)
    layout.proj.in_features = len(cols)
    kept = torch.tensor(keep, dtype=torch.long)
    for owner, name, axis in layout.per_head:
        _take(owner, name, kept, axis)
    attn.set_num_heads(len(keep))
