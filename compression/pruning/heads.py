"""Attention-head pruning: whole heads out of the zoo's ``MultiHeadSelfAttention``.

Channel groups never reach attention's inner widths (``dependency/locks.py`` locks qkv:
single channels would shift the split into heads and mix them). A head is removed whole
instead: its q and k rows (key_dim each) and v rows (value_dim) of qkv, its proj input
columns and its row of the attention-bias table; ``num_heads`` and ``split`` follow.
key_dim/value_dim, and so the softmax ``scale``, do not change. The model classes are the
zoo's: only tensors and those attributes are edited, and ``shapes.SHAPE_ATTRS`` records
them so that the pruned model reloads from config + checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from compression.pruning.errors import PruningError
from compression.pruning.head_importance import get_head_importance
from compression.pruning.head_layout import layout_mismatch, proj_columns, qkv_rows
from compression.pruning.selection import GroupScore
from configs.registry import Registry
from lightweight_models.blocks.attention import MultiHeadSelfAttention

# attention-bias module class name -> keep(bias, kept head indices): cuts its per-head part
HEAD_BIAS: Registry[Callable[[nn.Module, torch.Tensor], None]] = Registry("attention bias with heads")


def _take(module: nn.Module, name: str, index: torch.Tensor, dim: int) -> None:
    old = getattr(module, name)
    if old is not None:
        setattr(module, name, nn.Parameter(old.detach().index_select(dim, index).clone(), old.requires_grad))


@HEAD_BIAS.register("RelativePositionBias")
def _relative_position_bias(bias: nn.Module, keep: torch.Tensor) -> None:
    _take(bias, "table", keep, 0)
    bias.num_heads = len(keep)


def find_attentions(model: nn.Module) -> tuple[dict[nn.Module, str], dict[str, str]]:
    """``({attention: name})`` of the attentions whose heads can be pruned, and ``{name: why not}``."""
    prunable: dict[nn.Module, str] = {}
    fixed: dict[str, str] = {}
    for name, module in model.named_modules():
        if not isinstance(module, MultiHeadSelfAttention):
            continue
        why = layout_mismatch(module)
        if why is None and module.bias is not None and type(module.bias).__name__ not in HEAD_BIAS:
            why = f"its attention bias {type(module.bias).__name__} has no head pruner in HEAD_BIAS"
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
        imp = criterion.score(attn)
        if imp is None:
            unranked[name] = f"heads kept: {criterion.why_unranked}"
            continue
        mean = imp.mean()
        # global ranking pools heads of different attentions: only relative size within one counts
        scores.append(GroupScore(attn, None, imp / mean if mean > 0 else imp))
    return scores, unranked


def remove_heads(attn: nn.Module, heads: Sequence[int]) -> None:
    """Remove ``heads`` (indices) from ``attn`` in place; at least one head must stay."""
    drop = set(heads)
    if not drop <= set(range(attn.num_heads)):
        raise PruningError(f"heads {sorted(drop)} out of range for an attention with {attn.num_heads} heads")
    keep = [h for h in range(attn.num_heads) if h not in drop]
    if not keep:
        raise PruningError(f"removing heads {sorted(drop)} would leave no head of {attn.num_heads}")
    rows, cols = qkv_rows(attn, keep), proj_columns(attn, keep)
    _take(attn.qkv, "weight", rows, 0)
    _take(attn.qkv, "bias", rows, 0)
    attn.qkv.out_features = len(rows)
    _take(attn.proj, "weight", cols, 1)
    attn.proj.in_features = len(cols)
    if attn.bias is not None:
        HEAD_BIAS.get(type(attn.bias).__name__)(attn.bias, torch.tensor(keep, dtype=torch.long))
    attn.num_heads = len(keep)
    attn.split = [attn.key_dim * len(keep), attn.key_dim * len(keep), attn.value_dim * len(keep)]
