"""AGP schedule against its formula, gradual pruning inside ``fit``, lottery-ticket rewinding,
and the network-slimming penalty."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from compression.pruning import (
    AGPCallback,
    PruningError,
    SlimmingPenalty,
    agp_sparsity,
    capture_rewind_point,
    magnitude_prune,
    overall_sparsity,
    rewind,
)
from experiments.training import fit
from tests.training.conftest import make_bundle, tiny_model, train_cfg


def test_agp_matches_the_cubic_formula():
    final, initial, t0, n = 0.9, 0.1, 2, 8
    for t in range(0, 14):
        progress = np.clip((t - t0) / n, 0.0, 1.0)
        expected = final + (initial - final) * (1 - progress) ** 3
        assert agp_sparsity(t, final, t0, n, initial) == pytest.approx(expected)
    # front-loaded: the first half of the ramp does most of the pruning
    assert agp_sparsity(t0 + n // 2, final, t0, n) > 0.75 * final


@pytest.mark.parametrize("kwargs", [{"final": 1.0}, {"final": 0.5, "n_steps": 0}, {"final": -0.1}])
def test_agp_rejects_bad_arguments(kwargs):
    args = {"step": 0, "start_step": 0, "n_steps": 4, **kwargs}
    with pytest.raises(PruningError):
        agp_sparsity(**args)


def test_agp_callback_prunes_gradually_during_fit(tmp_path):
    model = tiny_model()
    callback = AGPCallback(final_sparsity=0.75, n_epochs=3)
    fit(model, make_bundle(n=64), train_cfg(epochs=3), tmp_path, callbacks=[callback])
    targets = [h["target_sparsity"] for h in callback.history]
    assert targets == sorted(targets) and targets[-1] == pytest.approx(0.75)
    model(torch.zeros(1, 1, 8, 8))  # re-applies masks to the last optimizer step
    assert overall_sparsity(model) == pytest.approx(0.75, abs=0.01)


def test_rewinding_restores_surviving_weights_and_keeps_zeros():
    model = tiny_model()
    point = capture_rewind_point(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # "training"
    magnitude_prune(model, 0.5)
    rewind(model, point)
    model(torch.zeros(1, 1, 8, 8))
    conv = model[0]
    alive = conv.weight_mask.bool()
    assert torch.equal(conv.weight[alive], point["0"][alive])
    assert bool((conv.weight[~alive] == 0).all())
    with pytest.raises(PruningError, match="'nope'"):
        rewind(model, {"nope": torch.zeros(1)})


def test_slimming_penalty_adds_l1_of_bn_scales_and_shrinks_them():
    model = tiny_model()
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    penalty = SlimmingPenalty(model, strength=1e-2)
    logits = model(x)
    expected = nn.functional.cross_entropy(logits, y) + 1e-2 * model[1].weight.abs().sum()
    assert penalty(logits, y, x).item() == pytest.approx(expected.item(), rel=1e-6)
    only_penalty = SlimmingPenalty(model, strength=1.0, base=lambda logits, y, x: logits.sum() * 0)
    before = model[1].weight.detach().abs().sum()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        only_penalty(model(x), y, x).backward()
        opt.step()
    assert model[1].weight.detach().abs().sum() < before
    with pytest.raises(ValueError, match="no affine BatchNorm"):
        SlimmingPenalty(nn.Linear(2, 2), 1e-4)
