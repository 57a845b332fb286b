"""Dependency analysis: which channels of a model must be pruned together.

Built on Torch-Pruning's ``DependencyGraph`` (a conv's outputs with its BN, the next
layers' inputs, depthwise convs, residual adds, concat/split, LayerNorm, Linear) plus the
locks and barriers the blocks declare (``locks.py``, ``barriers.py``) for the couplings it
cannot see. A group that contains a locked
layer's outputs, or prunes the inputs of a grouped non-depthwise convolution, is not offered.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch_pruning as tp
from torch import nn

from compression.pruning.dependency.barriers import barrier_pruners, is_barrier
from compression.pruning.dependency.forward_check import run_and_name_failure
from compression.pruning.dependency.locks import locked_layers, touches_grouped_input
from compression.pruning.errors import PruningError
from lightweight_models.blocks.structure import channel_barrier

ROOT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)


@dataclass
class DependencyAnalysis:
    """The traced graph and the decision of which layers stay unpruned (and why)."""

    graph: tp.DependencyGraph
    names: dict[nn.Module, str]
    locked: dict[nn.Module, str] = field(default_factory=dict)
    groups: list[tp.Group] = field(default_factory=list)

    def _compute_groups(self) -> list[tp.Group]:
        return list(self.graph.get_all_groups(ignored_layers=list(self.locked), root_module_types=ROOT_TYPES))

    def prunable_groups(self) -> list[tp.Group]:
        """Groups that can be pruned, each rooted at the output of a conv/linear (computed once)."""
        return self.groups

    def locked_names(self) -> dict[str, str]:
        return {self.names[m]: why for m, why in self.locked.items() if m in self.names}

    def group_root_names(self) -> list[str]:
        return [self.names[g[0].dep.target.module] for g in self.prunable_groups()]


def _output_layers(model: nn.Module, example_input: torch.Tensor) -> dict[nn.Module, str]:
    """Layers whose outputs are the model's outputs (the classifier): pruning them changes the output shape."""
    out = run_and_name_failure(model, example_input, "dependency analysis")
    width = out.shape[-1]
    last = [m for m in model.modules() if isinstance(m, ROOT_TYPES)]
    heads = [m for m in last if getattr(m, "out_features", getattr(m, "out_channels", None)) == width]
    return {heads[-1]: "produces the model output"} if heads else {}


def analyze(
    model: nn.Module, example_input: torch.Tensor, extra_locked: dict[nn.Module, str] | None = None
) -> DependencyAnalysis:
    """Trace ``model`` at ``example_input`` and decide the prunable channel groups.

    Fails with a PruningError naming the module when the model cannot be run or traced.
    """
    names = {m: n for n, m in model.named_modules()}
    locked = _output_layers(model, example_input)
    locked.update(locked_layers(model))
    locked.update(extra_locked or {})
    try:
        with warnings.catch_warnings():
            # free parameters (EfficientFormer's LayerScale gammas, its attention-bias table) get pruned
            # along their last dim: right for the 1-D per-channel gammas; the table is never in a
            # channel group because qkv is locked (heads.py cuts its head rows instead)
            warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
            graph = tp.DependencyGraph().build_dependency(
                model, example_inputs=example_input, customized_pruners=barrier_pruners(model)
            )
    except Exception as exc:  # Torch-Pruning raises bare errors from deep inside its tracer
        raise PruningError(f"dependency analysis cannot trace {type(model).__name__}: {exc}") from exc
    analysis = DependencyAnalysis(graph, names, locked)
    # a group may reach a barrier, or a grouped conv through its *inputs*, which the ignore
    # list does not cover; lock the group's root and look again until nothing changes
    groups = analysis._compute_groups()
    while True:
        blocked = {}
        for group in groups:
            why = _blocking_reason(graph, group, names)
            if why:
                blocked[group[0].dep.target.module] = why
        if not blocked:
            analysis.groups = groups
            return analysis
        analysis.locked.update(blocked)
        # what get_all_groups would return with the new locks, without re-tracing every group
        groups = [g for g in groups if not _prunes_outputs_of(graph, g, analysis.locked)]


def _prunes_outputs_of(graph: tp.DependencyGraph, group: tp.Group, layers: dict[nn.Module, str]) -> bool:
    return any(graph.is_out_channel_pruning_fn(dep.handler) and dep.target.module in layers for dep, _ in group)


def _blocking_reason(graph: tp.DependencyGraph, group: tp.Group, names: dict[nn.Module, str]) -> str | None:
    for dep, _ in group:
        target = dep.target.module
        if is_barrier(target):
            return f"couples with '{names.get(target)}' ({channel_barrier(target)}), whose channels are fixed"
        if graph.is_in_channel_pruning_fn(dep.handler) and touches_grouped_input(target):
            return f"couples with the inputs of grouped conv '{names.get(target)}'"
    return None
