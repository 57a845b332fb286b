"""Unstructured magnitude pruning, layer-wise or global, through ``torch.nn.utils.prune``.

PyTorch's reparametrisation keeps ``weight_orig`` and ``weight_mask`` in the state dict and
recomputes ``weight = weight_orig * weight_mask`` before every forward, so the mask
survives checkpointing and fine-tuning (gradients of masked weights are zeroed by the
product). A fresh model gets the masks back with ``restore_masks`` before loading, and
``make_permanent`` bakes them in for export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from compression.pruning.errors import PruningError

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)
MASK_SUFFIX = ".weight_mask"


def check_sparsity(value: float, what: str = "sparsity") -> float:
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise PruningError(f"{what} must be in [0, 1), got {value!r}")
    return float(value)


def prunable_layers(model: nn.Module, names: Iterable[str] | None = None) -> dict[str, nn.Module]:
    """Conv and Linear layers by name; ``names`` restricts them and every name must exist."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)}
    if names is None:
        return layers
    chosen = {}
    for name in names:
        if name not in layers:
            raise PruningError(f"no prunable (conv/linear) layer named '{name}' in {type(model).__name__}")
        chosen[name] = layers[name]
    return chosen


def _set_mask(module: nn.Module, mask: torch.Tensor) -> None:
    if prune.is_pruned(module) and hasattr(module, "weight_mask"):
        module.weight_mask.copy_(mask)
        # torch recomputes ``weight`` only in its forward pre-hook; keep it current now
        module.weight = module.weight_orig * module.weight_mask
    else:
        prune.custom_from_mask(module, "weight", mask)


def _weight(module: nn.Module) -> torch.Tensor:
    # the dense values: after a first pruning step they live in weight_orig
    return getattr(module, "weight_orig", module.weight).detach()


def magnitude_prune(
    model: nn.Module,
    sparsity: float,
    *,
    scope: str = "global",
    layers: Iterable[str] | None = None,
    layer_sparsity: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Zero the smallest-|w| weights so that ``sparsity`` of them are zero; returns sparsity per layer.

    ``scope="layer"``: every layer loses the same fraction; ``"global"``: one threshold over all
    chosen layers (layers that matter less lose more); ``"lamp"``: one threshold over LAMP scores
    (Lee et al. 2021), which rescale each weight by the energy of the layer's larger weights, so a
    layer of small weights is never wiped out (plain global magnitude pruning of MobileNetV2 at
    90% zeroes its head conv entirely). Pruning is cumulative: a weight already masked stays
    masked. ``layer_sparsity`` overrides the layer-wise target by name.
    """
    sparsity = check_sparsity(sparsity)
    if scope not in GLOBAL_SCORES and scope != "layer":
        raise PruningError(f"scope must be one of {sorted([*GLOBAL_SCORES, 'layer'])}, got {scope!r}")
    chosen = prunable_layers(model, layers)
    overrides = {n: check_sparsity(s, f"layer_sparsity['{n}']") for n, s in (layer_sparsity or {}).items()}
    prunable_layers(model, overrides)  # every override must name a real layer
    if not chosen:
        raise PruningError(f"{type(model).__name__} has no conv/linear layer to prune")
    with torch.no_grad():
        shared = {n: m for n, m in chosen.items() if n not in overrides} if scope in GLOBAL_SCORES else {}
        if shared:
            score = GLOBAL_SCORES[scope]
            threshold = _threshold(torch.cat([score(m).flatten() for m in shared.values()]), sparsity)
            for m in shared.values():
                _set_mask(m, (score(m) > threshold).to(_weight(m).dtype))
        for name, m in chosen.items():
            if name not in shared:
                scores = _masked_abs(m)
                _set_mask(m, (scores > _threshold(scores.flatten(), overrides.get(name, sparsity))).to(scores.dtype))
    return sparsity_by_layer(model)


def _threshold(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    k = int(round(sparsity * scores.numel()))
    return scores.kthvalue(k).values if k > 0 else scores.new_tensor(-1.0)


def _masked_abs(module: nn.Module) -> torch.Tensor:
    # already-pruned weights score -1 so that they are always among the cut
    scores = _weight(module).abs()
    mask = getattr(module, "weight_mask", None)
    return scores if mask is None else torch.where(mask.bool(), scores, scores.new_tensor(-1.0))


def lamp_scores(module: nn.Module) -> torch.Tensor:
    """LAMP score of every weight: w^2 over the sum of w'^2 of the layer's weights at least as large.

    The layer's largest surviving weight scores 1, so a global threshold below 1 keeps every layer
    alive; already-pruned weights score -1.
    """
    magnitude = _masked_abs(module)
    alive = magnitude >= 0
    energy = torch.where(alive, magnitude * magnitude, torch.zeros_like(magnitude)).flatten()
    order = torch.argsort(energy)
    ascending = energy[order]
    at_least = ascending.flip(0).cumsum(0).flip(0)  # sum over the weights from this one upwards
    scores = torch.empty_like(energy)
    scores[order] = ascending / at_least.clamp_min(torch.finfo(energy.dtype).tiny)
    return torch.where(alive, scores.view_as(magnitude), magnitude.new_tensor(-1.0))


# scope -> the per-weight score one global threshold is taken over
GLOBAL_SCORES = {"global": _masked_abs, "lamp": lamp_scores}


def sparsity_by_layer(model: nn.Module) -> dict[str, float]:
    """Fraction of exact zeros in each conv/linear weight (masked or not)."""
    return {n: float((m.weight == 0).float().mean()) for n, m in prunable_layers(model).items()}


def overall_sparsity(model: nn.Module) -> float:
    layers = prunable_layers(model).values()
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    total = sum(m.weight.numel() for m in layers)
    return zeros / total if total else 0.0


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: m.weight_mask.detach().clone() for n, m in prunable_layers(model).items() if hasattr(m, "weight_mask")}


def restore_masks(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Re-create the pruning reparametrisation that ``state`` was saved with, so it loads strictly."""
    modules = dict(model.named_modules())
    for key, mask in state.items():
        if not key.endswith(MASK_SUFFIX):
            continue
        name = key[: -len(MASK_SUFFIX)]
        if name not in modules:
            raise PruningError(f"checkpoint has a mask for '{name}', which the model does not have")
        _set_mask(modules[name], mask.clone())
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Bake masks into plain weights (zeros stay zeros) and drop the reparametrisation."""
    for m in prunable_layers(model).values():
        if prune.is_pruned(m) and hasattr(m, "weight_mask"):
            prune.remove(m, "weight")
    return model
