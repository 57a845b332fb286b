"""Pruning: unstructured magnitude masks (layer-wise/global, AGP, rewinding) and structured
channel pruning driven by a dependency graph (with whole attention heads removed alongside),
with sensitivity analysis, latency-driven search and before/after reports.

Saving a structurally pruned model: store ``result.pruned_shapes`` next to the weights
(``{"model": state_dict, "pruned_shapes": spec}``); reload with ``shapes.rebuild``.
"""

from compression.pruning.errors import PruningError
from compression.pruning.head_importance import HEAD_IMPORTANCES
from compression.pruning.importance import IMPORTANCES, get_importance
from compression.pruning.latency import netadapt
from compression.pruning.report import PruningReport, pruning_report
from compression.pruning.schedules import AGPCallback, agp_sparsity, capture_rewind_point, rewind
from compression.pruning.sensitivity import layer_sensitivity, propose_ratios
from compression.pruning.shapes import apply_pruned_shapes, pruned_shapes, rebuild
from compression.pruning.slimming_penalty import SlimmingPenalty
from compression.pruning.structured import StructuredResult, prune_structured
from compression.pruning.unstructured import (
    lamp_scores,
    magnitude_prune,
    make_permanent,
    overall_sparsity,
    restore_masks,
    sparsity_by_layer,
)

__all__ = [
    "HEAD_IMPORTANCES",
    "IMPORTANCES",
    "AGPCallback",
    "PruningError",
    "PruningReport",
    "SlimmingPenalty",
    "StructuredResult",
    "agp_sparsity",
    "apply_pruned_shapes",
    "capture_rewind_point",
    "get_importance",
    "layer_sensitivity",
    "magnitude_prune",
    "make_permanent",
    "netadapt",
    "overall_sparsity",
    "propose_ratios",
    "prune_structured",
    "pruned_shapes",
    "pruning_report",
    "rebuild",
    "restore_masks",
    "rewind",
    "lamp_scores",
    "sparsity_by_layer",
]
