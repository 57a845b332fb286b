"""Pruning reads what may not be pruned from the blocks' own declarations, so a block that is renamed or
subclassed keeps its locks, barriers and head layout (a rule keyed by class name would silently lose them)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from compression.pruning import prune_structured
from compression.pruning.dependency import analyze
from lightweight_models.blocks import ChannelShuffle, MobileViTBlock, MultiHeadSelfAttention
from tests.compression.pruning.helpers import small_input, small_model


def _renamed(model: nn.Module, base: type[nn.Module]) -> tuple[nn.Module, int]:
    """``model`` with every ``base`` instance turned into a subclass of another name; returns the count."""
    renamed = type(f"Renamed{base.__name__}", (base,), {})
    count = 0
    for m in model.modules():
        if type(m) is base:
            m.__class__ = renamed
            count += 1
    return model, count


def _analysis(model: nn.Module) -> tuple[dict[str, str], list[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = analyze(model, small_input())
    return analysis.locked_names(), sorted(analysis.group_root_names())


@pytest.mark.parametrize(("name", "block"), [
    ("mobilevit_xxs", MobileViTBlock),
    ("mobilevit_xxs", MultiHeadSelfAttention),
    ("shufflenetv2_x0_5", ChannelShuffle),
    ("shufflenetv1_g3", ChannelShuffle),
])
def test_a_renamed_block_keeps_its_locks(name, block):
    locked, groups = _analysis(small_model(name))
    model, count = _renamed(small_model(name), block)
    assert count > 0
    renamed_locked, renamed_groups = _analysis(model)
    assert renamed_groups == groups
    assert renamed_locked.keys() == locked.keys()


def test_the_mobilevit_and_attention_locks_come_from_the_blocks():
    locked, _ = _analysis(small_model("mobilevit_xxs"))
    assert any(k.endswith("conv_1x1.conv") and "transformer_dim" in why for k, why in locked.items())
    assert any(k.endswith("attn.qkv") and "head widths" in why for k, why in locked.items())


def test_a_renamed_attention_still_loses_heads():
    model, _ = _renamed(small_model("mobilevit_xxs"), MultiHeadSelfAttention)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = prune_structured(model, small_input(), 0.0, head_ratio=0.5)
    assert result.heads_removed and not result.heads_kept
    with torch.no_grad():
        assert result.model(small_input()).shape == (1, 10)
