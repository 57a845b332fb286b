"""Structured (channel and attention-head) pruning: a physically narrower copy of a model.

Channels are removed a whole dependency group at a time (``dependency``), ranked by an
importance criterion (``importance``) within each group (local) or across all groups
(global), and each group keeps a multiple of ``round_to`` channels so the result maps onto
SIMD widths. Attention inner widths are locked for channel groups; whole heads are removed
instead (``heads``), ranked by the same criterion, keeping at least one per attention. The
input model is never modified: every check (ratios, layer names, the dependency analysis)
runs first and the cut is made on a copy.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from compression.pruning.dependency import analyze, run_and_name_failure
from compression.pruning.errors import PruningError
from compression.pruning.head_importance import get_head_importance
from compression.pruning.heads import find_attentions, remove_heads, score_heads
from compression.pruning.importance import get_importance
from compression.pruning.selection import GroupScore, select_channels
from compression.pruning.shapes import ShapeSpec, pruned_shapes

# a loss on the (copied) model: what first-order Taylor importance differentiates
LossFn = Callable[[nn.Module], torch.Tensor]


@dataclass
class StructuredResult:
    """The pruned copy, its shape spec for checkpoints, and what was kept whole and why.

    ``heads_removed``: attention name -> the head indices removed from it; ``heads_kept``:
    attention name -> why its heads were not pruned (criterion cannot rank them, unknown bias).
    """

    model: nn.Module
    pruned_shapes: ShapeSpec
    locked: dict[str, str] = field(default_factory=dict)
    groups_pruned: int = 0
    heads_removed: dict[str, list[int]] = field(default_factory=dict)
    heads_kept: dict[str, str] = field(default_factory=dict)


def check_ratio(value: float, what: str) -> float:
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise PruningError(f"{what} must be in [0, 1), got {value!r}")
    return float(value)


def _resolve_layers(model: nn.Module, ratios: Mapping[str, float]) -> dict[nn.Module, float]:
    modules = dict(model.named_modules())
    resolved: dict[nn.Module, float] = {}
    for name, ratio in ratios.items():
        if name not in modules:
            close = difflib.get_close_matches(name, list(modules), n=3)
            hint = f" (closest: {', '.join(close)})" if close else ""
            raise PruningError(f"layer_ratios names a layer that does not exist: '{name}'{hint}")
        resolved[modules[name]] = check_ratio(ratio, f"layer_ratios['{name}']")
    return resolved


def prune_structured(
    model: nn.Module,
    example_input: torch.Tensor,
    ratio: float,
    *,
    importance: str = "l1",
    global_ranking: bool = False,
    layer_ratios: Mapping[str, float] | None = None,
    round_to: int = 8,
    max_layer_ratio: float = 0.9,
    loss_fn: LossFn | None = None,
    head_ratio: float | None = None,
) -> StructuredResult:
    """Remove ``ratio`` of the channels of every prunable group (``layer_ratios`` overrides by layer name).

    ``head_ratio`` (default: ``ratio``) of the heads of every attention go too, rounded down
    and never the last head; ``layer_ratios`` naming an attention module sets its head ratio.
    ``max_layer_ratio`` caps any single group in global ranking, so an all-zero branch can
    never take a group's last channels. ``loss_fn`` is required by gradient criteria (taylor).
    """
    ratio = check_ratio(ratio, "pruning ratio")
    head_ratio = ratio if head_ratio is None else check_ratio(head_ratio, "head_ratio")
    check_ratio(max_layer_ratio, "max_layer_ratio")
    if round_to < 1:
        raise PruningError(f"round_to must be >= 1, got {round_to}")
    criterion = get_importance(importance)
    get_head_importance(importance)  # a criterion without a head counterpart fails before any work
    if criterion.needs_grad and loss_fn is None:
        raise PruningError(f"importance '{importance}' needs gradients: pass loss_fn")
    work = copy.deepcopy(model).eval()
    per_layer = _resolve_layers(work, layer_ratios or {})
    reference = run_and_name_failure(work, example_input, "the model before pruning")
    analysis = analyze(work, example_input)
    names = {m: n for n, m in work.named_modules()}
    roots = {g[0].dep.target.module for g in analysis.prunable_groups()}
    attentions, heads_kept = find_attentions(work)
    for module in per_layer:
        if module not in roots and module not in attentions:
            why = heads_kept.get(names[module]) or analysis.locked.get(
                module, "it is neither the first layer of a prunable channel group nor a prunable attention"
            )
            raise PruningError(f"layer_ratios: layer '{names[module]}' cannot be pruned: {why}")
    channel_ratios = {m: r for m, r in per_layer.items() if m in roots}
    head_ratios = {m: r for m, r in per_layer.items() if m in attentions}
    if not roots and not attentions and (ratio > 0 or per_layer):
        locked = "; ".join(f"{n}: {w}" for n, w in list(analysis.locked_names().items())[:4])
        raise PruningError(f"{type(model).__name__}: no prunable channel group (locked: {locked} ...)")
    if criterion.needs_grad:
        work.zero_grad()
        loss_fn(work).backward()
    scorer = criterion.build()
    scores = []
    for group in analysis.prunable_groups():
        imp = scorer(group)
        if imp is not None:  # e.g. bn_scale on a group without BatchNorm: nothing to rank by
            scores.append(GroupScore(group[0].dep.target.module, group[0].dep.handler, imp.detach()))
    # heads are scored now, while the taylor gradients still match the weights
    head_scores, unranked = score_heads(attentions, importance)
    heads_kept.update(unranked)
    plan = select_channels(scores, ratio, channel_ratios, global_ranking=global_ranking,
                           max_layer_ratio=max_layer_ratio, round_to=round_to)
    # round_to=1: a head is already key_dim/value_dim wide, and rounded_keep never keeps zero
    head_plan = select_channels(head_scores, head_ratio, head_ratios, global_ranking=global_ranking,
                                max_layer_ratio=max_layer_ratio, round_to=1)
    groups = 0
    for score, idxs in plan:
        if not idxs:
            continue
        # re-derived now: earlier cuts shift the indices other layers see through concatenations
        group = analysis.graph.get_pruning_group(score.root, score.handler, idxs)
        # a hidden coupling (Ghost's cheap half mirrors its primary half) can widen the cut beyond the
        # chosen channels, up to a whole layer: such a group is left whole rather than over-pruned
        if len(group[0].idxs) != len(idxs) or not analysis.graph.check_pruning_group(group):
            continue
        group.prune()
        groups += 1
    heads_removed = {}
    for score, heads in head_plan:
        if heads:
            remove_heads(score.root, heads)
            heads_removed[attentions[score.root]] = sorted(heads)
    work.zero_grad(set_to_none=True)
    out = run_and_name_failure(work, example_input, "the pruned model")
    if out.shape != reference.shape:
        raise PruningError(f"pruning changed the output shape {tuple(reference.shape)} -> {tuple(out.shape)}")
    return StructuredResult(
        work, pruned_shapes(work, model), analysis.locked_names(), groups, heads_removed, heads_kept
    )
