"""Structured pruning options and bad input: ratios, layer names, rounding, criteria,
global ranking, and the residual group's last channel."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compression.pruning import IMPORTANCES, PruningError, prune_structured
from compression.pruning.dependency import analyze
from tests.compression.pruning.helpers import same_state, small_input, small_model, state_copy


@pytest.fixture(scope="module")
def cnn():
    return small_model("simple_cnn")


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, float("nan")])
def test_ratio_outside_unit_interval_fails_before_any_change(cnn, ratio):
    before = state_copy(cnn)
    with pytest.raises(PruningError, match="pruning ratio must be in \\[0, 1\\)"):
        prune_structured(cnn, small_input(), ratio)
    assert same_state(before, state_copy(cnn))


def test_unknown_layer_name_is_named_with_closest_match(cnn):
    with pytest.raises(PruningError, match="'features.9.conv'.*closest"):
        prune_structured(cnn, small_input(), 0.5, layer_ratios={"features.9.conv": 0.5})


def test_layer_ratio_outside_unit_interval_names_the_layer(cnn):
    with pytest.raises(PruningError, match=r"layer_ratios\['features.1.conv'\] must be in \[0, 1\)"):
        prune_structured(cnn, small_input(), 0.5, layer_ratios={"features.1.conv": 1.0})


def test_locked_layer_override_says_why():
    model = small_model("shufflenetv2_x0_5")
    before = state_copy(model)
    with pytest.raises(PruningError, match="stages.0.1.branch2.2.conv.*channel shuffle"):
        prune_structured(model, small_input(), 0.5, layer_ratios={"stages.0.1.branch2.2.conv": 0.5})
    assert same_state(before, state_copy(model))


def test_untraceable_model_names_the_failing_module():
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3)
            self.head = nn.Linear(4, 10)  # wrong width: the forward fails inside 'head'

        def forward(self, x):
            return self.head(self.conv(x).mean((2, 3)))

    with pytest.raises(PruningError, match="module 'head'"):
        prune_structured(Broken(), small_input(), 0.5)


def test_channels_are_rounded_to_the_multiple(cnn):
    x = small_input()
    pruned = prune_structured(cnn, x, 0.3, round_to=8).model
    widths = [m.out_channels for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    assert all(w % 8 == 0 for w in widths), widths
    originals = [m.out_channels for m in cnn.modules() if isinstance(m, nn.Conv2d)]
    assert sum(widths) < sum(originals)


def test_per_layer_override_prunes_only_that_group(cnn):
    x = small_input()
    pruned = prune_structured(cnn, x, 0.0, layer_ratios={"features.1.conv": 0.5}, round_to=1).model
    before = {n: m.out_channels for n, m in cnn.named_modules() if isinstance(m, nn.Conv2d)}
    after = {n: m.out_channels for n, m in pruned.named_modules() if isinstance(m, nn.Conv2d)}
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {"features.1.conv"}
    assert after["features.1.conv"] == before["features.1.conv"] // 2


def test_global_ranking_prunes_groups_unevenly(cnn):
    x = small_input()
    local = prune_structured(cnn, x, 0.5, round_to=1).model
    glob = prune_structured(cnn, x, 0.5, round_to=1, global_ranking=True).model
    fraction = [
        b.out_channels / a.out_channels
        for a, b in zip(cnn.modules(), glob.modules())
        if isinstance(a, nn.Conv2d) and a.out_channels != 10
    ]
    assert len({round(f, 2) for f in fraction}) > 1, "global ranking should not cut every layer alike"
    assert sum(p.numel() for p in glob.parameters()) != sum(p.numel() for p in local.parameters())


@pytest.mark.parametrize("criterion", sorted(IMPORTANCES.names()))
def test_every_importance_criterion_prunes(cnn, criterion):
    x = small_input(4)
    y = torch.arange(4) % 10

    def loss(model):
        return nn.functional.cross_entropy(model(x), y)

    needs = IMPORTANCES.get(criterion).needs_grad
    pruned = prune_structured(cnn, x, 0.5, importance=criterion, loss_fn=loss if needs else None).model
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in cnn.parameters())


def test_taylor_without_loss_fails(cnn):
    with pytest.raises(PruningError, match="taylor.*loss_fn"):
        prune_structured(cnn, small_input(), 0.5, importance="taylor")


def test_unknown_importance_lists_the_valid_ones(cnn):
    with pytest.raises(KeyError, match="Valid pruning importance names: bn_scale, l1, l2, random, taylor"):
        prune_structured(cnn, small_input(), 0.5, importance="l3")


def test_all_zero_branch_never_loses_its_residual_groups_last_channel():
    # zero every weight that writes into MobileNetV2's residual trunks: under global ranking
    # those channels are the least important in the whole network
    model, x = small_model("mobilenetv2"), small_input()
    analysis = analyze(model, x)
    trunk_roots = []
    for group in analysis.prunable_groups():
        adds = sum(1 for dep, _ in group if "add" in str(dep.target).lower())
        if adds:
            trunk_roots.append(group[0].dep.target.module)
            for dep, _ in group:
                module = dep.target.module
                if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)) and analysis.graph.is_out_channel_pruning_fn(
                    dep.handler
                ):
                    with torch.no_grad():
                        module.weight.zero_()
                        if module.bias is not None:
                            module.bias.zero_()
    assert trunk_roots, "MobileNetV2 must have residual groups"
    result = prune_structured(model, x, 0.6, global_ranking=True, round_to=1, max_layer_ratio=0.9)
    names = [analysis.names[m] for m in trunk_roots]
    pruned = dict(result.model.named_modules())
    for name in names:
        assert pruned[name].out_channels >= 1
    assert all(m.out_channels >= 1 for m in result.model.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        assert result.model(x).shape == (1, 10)


@pytest.mark.parametrize(
    ("width", "keep", "round_to", "expected"),
    [(64, 30, 8, 24), (64, 5, 8, 8), (64, 0, 8, 8), (8, 2, 8, 8), (6, 1, 8, 6), (24, 13, 1, 13), (24, 0, 1, 1)],
)
def test_kept_width_rounds_down_to_the_multiple_but_never_to_zero(width, keep, round_to, expected):
    from compression.pruning.selection import rounded_keep

    assert rounded_keep(width, keep, round_to) == expected
