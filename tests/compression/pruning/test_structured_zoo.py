"""Structured pruning over every zoo model: it runs, keeps the output shape, has fewer MACs,
exports to ONNX and reloads from its architecture plus ``pruned_shapes``."""

from __future__ import annotations

import warnings

import pytest
import torch

from compression.pruning import PruningError, prune_structured, rebuild
from export import to_onnx
from lightweight_models import list_models
from tests.compression.pruning.helpers import macs, same_state, small_input, small_model, state_copy

# every channel of ShuffleNetV1 with grouped 1x1 convs is coupled to a grouped conv's inputs
# or to a shuffle across groups, which the dependency analysis keeps whole: nothing is prunable
NOTHING_PRUNABLE = {"shufflenetv1_g2", "shufflenetv1_g3", "shufflenetv1_g4", "shufflenetv1_g8"}
PRUNABLE = [n for n in list_models() if n not in NOTHING_PRUNABLE]


@pytest.mark.parametrize("name", PRUNABLE)
def test_pruned_zoo_model_runs_shrinks_exports_and_reloads(name, tmp_path):
    model, x = small_model(name), small_input()
    before = state_copy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = prune_structured(model, x, 0.5)
    assert same_state(before, state_copy(model)), "the input model must stay untouched"
    pruned = result.model
    with torch.no_grad():
        assert pruned(x).shape == model(x).shape
    assert macs(pruned, x) < 0.8 * macs(model, x)
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())
    to_onnx(pruned, x, tmp_path / f"{name}.onnx")  # verifies against onnxruntime

    state = {"model": pruned.state_dict(), "pruned_shapes": result.pruned_shapes}
    reloaded = rebuild(lambda: small_model(name), state).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), pruned(x))


@pytest.mark.parametrize("name", sorted(NOTHING_PRUNABLE))
def test_unprunable_model_fails_naming_the_locked_modules(name):
    model, x = small_model(name), small_input()
    before = state_copy(model)
    with pytest.raises(PruningError, match=r"no prunable channel group.*stages\.0\.0\.conv_pw"):
        prune_structured(model, x, 0.5)
    assert same_state(before, state_copy(model))
