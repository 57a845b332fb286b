"""Attention-head pruning on hand-built attentions: the layout of a head in qkv/proj/bias table,
the ranking, the options (head_ratio, per-attention ratios, criteria) and bad input."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from compression.pruning import IMPORTANCES, PruningError, layer_sensitivity, netadapt, prune_structured, rebuild
from compression.pruning.head_importance import HEAD_IMPORTANCES
from compression.pruning.head_layout import proj_columns
from compression.pruning.heads import remove_heads
from lightweight_models.blocks.attention import MultiHeadSelfAttention
from lightweight_models.blocks.efficientformer import RelativePositionBias

GRID = 2  # 2x2 token map: 4 tokens
IN = 8


class TokenNet(nn.Module):
    """tokens (B, 4, 8) -> embed -> attention (4 heads, EfficientFormer-like widths) [-> attention] -> logits."""

    def __init__(self, bias: bool = True, second: bool = False) -> None:
        super().__init__()
        self.embed = nn.Linear(IN, 16)
        self.attn = MultiHeadSelfAttention(16, 4, key_dim=3, value_dim=5, bias=self._bias(bias))
        self.attn2 = MultiHeadSelfAttention(16, 4, bias=self._bias(bias)) if second else nn.Identity()
        self.head = nn.Linear(16, 10)

    @staticmethod
    def _bias(on: bool) -> nn.Module | None:
        return RelativePositionBias(4, resolution=3, grid=GRID) if on else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.attn2(self.attn(self.embed(x))).mean(1))


def token_net(**kwargs: bool) -> TokenNet:
    torch.manual_seed(0)
    net = TokenNet(**kwargs).eval()
    with torch.no_grad():  # a zero table would hide a wrongly sliced one
        for m in net.modules():
            if isinstance(m, RelativePositionBias):
                m.table.normal_()
    return net


def tokens(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, GRID * GRID, IN, generator=torch.Generator().manual_seed(3))


def zero_head(attn: MultiHeadSelfAttention, head: int) -> None:
    """Zero everything ``head`` owns: its q/k/v rows and its proj columns."""
    n, kd, vd = attn.num_heads, attn.key_dim, attn.value_dim
    rows = [
        *range(head * kd, (head + 1) * kd),
        *range(n * kd + head * kd, n * kd + (head + 1) * kd),
        *range(2 * n * kd + head * vd, 2 * n * kd + (head + 1) * vd),
    ]
    with torch.no_grad():
        attn.qkv.weight[rows] = 0
        attn.qkv.bias[rows] = 0
        attn.proj.weight[:, proj_columns(attn.head_layout(), [head])] = 0


def test_removed_head_leaves_the_other_heads_output_unchanged():
    # silencing head 1 through its proj columns is what removing it must compute: any wrong
    # q/k/v row, proj column or bias-table row changes the other heads' outputs
    attn = token_net().attn
    x = torch.randn(2, GRID * GRID, 16)
    silenced = copy.deepcopy(attn)
    with torch.no_grad():
        silenced.proj.weight[:, proj_columns(attn.head_layout(), [1])] = 0
    table = attn.bias.table.detach().clone()
    remove_heads(attn, [1])
    assert (attn.num_heads, attn.split, attn.bias.num_heads) == (3, [9, 9, 15], 3)
    assert (attn.qkv.out_features, attn.proj.in_features) == (33, 15)
    assert torch.equal(attn.bias.table, table[[0, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(attn(x), silenced(x))


@pytest.mark.parametrize("heads", [[0, 1, 2, 3], [4], [-1]])
def test_removing_every_head_or_a_missing_one_fails(heads):
    attn = token_net().attn
    with pytest.raises(PruningError, match="no head|out of range"):
        remove_heads(attn, heads)
    assert attn.num_heads == 4


@pytest.mark.parametrize("criterion", ["l1", "l2", "taylor"])
def test_the_zeroed_head_is_the_one_removed(criterion):
    net, x = token_net(), tokens()
    zero_head(net.attn, 2)

    def loss(model: nn.Module) -> torch.Tensor:
        return model(x).square().sum()

    result = prune_structured(net, x, 0.0, head_ratio=0.25, importance=criterion, loss_fn=loss)
    assert result.heads_removed == {"attn": [2]}
    with torch.no_grad():  # a zero head contributes nothing: removing it changes no output
        torch.testing.assert_close(result.model(x), net(x))
    assert net.attn.num_heads == 4, "the input model must stay untouched"


def test_heads_follow_the_channel_ratio_unless_head_ratio_says_otherwise():
    net, x = token_net(), tokens()
    assert prune_structured(net, x, 0.5).model.attn.num_heads == 2
    assert prune_structured(net, x, 0.5, head_ratio=0.0).model.attn.num_heads == 4
    # 0.9 of 4 heads rounds down to 3: one head always stays
    assert prune_structured(net, x, 0.0, head_ratio=0.9).model.attn.num_heads == 1


def test_layer_ratios_naming_an_attention_prunes_only_its_heads():
    net, x = token_net(second=True), tokens()
    result = prune_structured(net, x, 0.0, layer_ratios={"attn2": 0.5})
    assert (result.model.attn.num_heads, result.model.attn2.num_heads) == (4, 2)
    assert list(result.heads_removed) == ["attn2"]


def test_global_ranking_takes_the_zeroed_heads_first():
    net, x = token_net(second=True), tokens()
    zero_head(net.attn, 0)
    zero_head(net.attn, 3)
    result = prune_structured(net, x, 0.0, head_ratio=0.25, global_ranking=True)
    assert result.heads_removed == {"attn": [0, 3]}


def test_pruned_heads_reload_from_architecture_and_shapes():
    net, x = token_net(), tokens()
    result = prune_structured(net, x, 0.0, head_ratio=0.5)
    state = {"model": result.model.state_dict(), "pruned_shapes": result.pruned_shapes}
    reloaded = rebuild(token_net, state).eval()
    assert (reloaded.attn.num_heads, reloaded.attn.split, reloaded.attn.bias.num_heads) == (2, [6, 6, 10], 2)
    with torch.no_grad():
        assert torch.equal(reloaded(x), result.model(x))


def test_bn_scale_keeps_heads_and_says_why():
    net, x = token_net(), tokens()
    result = prune_structured(net, x, 0.0, head_ratio=0.5, importance="bn_scale")
    assert result.model.attn.num_heads == 4
    assert "BatchNorm" in result.heads_kept["attn"]


def test_unknown_attention_bias_keeps_heads_and_a_layer_ratio_on_it_fails():
    class ZeroBias(nn.Module):
        def forward(self) -> torch.Tensor:
            return torch.zeros(4, GRID * GRID, GRID * GRID)

    net, x = token_net(bias=False), tokens()
    net.attn.bias = ZeroBias()
    result = prune_structured(net, x, 0.0, head_ratio=0.5)
    assert result.model.attn.num_heads == 4
    assert "ZeroBias declares no per-head parameters" in result.heads_kept["attn"]
    with pytest.raises(PruningError, match="layer 'attn' cannot be pruned.*ZeroBias"):
        prune_structured(net, x, 0.0, layer_ratios={"attn": 0.5})


@pytest.mark.parametrize("value", [1.0, -0.5])
def test_head_ratio_outside_unit_interval_fails(value):
    with pytest.raises(PruningError, match=r"head_ratio must be in \[0, 1\)"):
        prune_structured(token_net(), tokens(), 0.5, head_ratio=value)


def test_every_channel_criterion_has_a_head_criterion():
    assert HEAD_IMPORTANCES.names() == IMPORTANCES.names()


def test_sensitivity_covers_each_attentions_heads():
    net, x = token_net(second=True), tokens()
    table = layer_sensitivity(net, x, lambda m: float(m.attn.num_heads + 10 * m.attn2.num_heads), ratios=(0.5,))
    assert table["attn"] == {0.5: 2.0 + 40.0}
    assert table["attn2"] == {0.5: 4.0 + 20.0}
    assert "embed" in table, "channel groups stay in the table"


def test_netadapt_removes_heads_when_only_heads_cost_latency():
    net, x = token_net(), tokens()

    def heads_latency_ms(model: nn.Module) -> float:  # channels cost nothing: only head cuts can help
        return float(model.attn.num_heads)

    result = netadapt(net, x, 2.0, heads_latency_ms, lambda m: 0.0, step_ratio=0.5)
    assert result.reached_budget and result.model.attn.num_heads == 2
    assert [s.layer for s in result.steps] == ["attn"]
    assert result.pruned_shapes["attn"]["attrs"]["num_heads"] == 2
    # a step rounds down like any ratio: a quarter of 3 heads is no head, so 3 is where it stops
    stuck = netadapt(net, x, 2.0, heads_latency_ms, lambda m: 0.0, step_ratio=0.25)
    assert not stuck.reached_budget and stuck.model.attn.num_heads == 3
