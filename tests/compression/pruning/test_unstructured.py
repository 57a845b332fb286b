"""Magnitude masks: the requested sparsity, layer-wise vs global, persistence through
checkpointing and fine-tuning, and bad input."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from compression.pruning import (
    PruningError,
    magnitude_prune,
    make_permanent,
    overall_sparsity,
    restore_masks,
    sparsity_by_layer,
)
from tests.compression.pruning.helpers import small_input, small_model


@pytest.fixture
def cnn():
    return small_model("simple_cnn")


def _all_weights(model: nn.Module) -> torch.Tensor:
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return torch.cat([m.weight.detach().abs().flatten() for m in layers])


@pytest.mark.parametrize("sparsity", [0.5, 0.75, 0.9])
def test_global_magnitude_reaches_the_sparsity_and_cuts_the_smallest(cnn, sparsity):
    dense = _all_weights(cnn)
    magnitude_prune(cnn, sparsity)
    assert overall_sparsity(cnn) == pytest.approx(sparsity, abs=1e-3)
    kept = _all_weights(cnn)
    assert kept[kept > 0].min() >= dense.sort().values[int(sparsity * dense.numel()) - 1]


def test_layerwise_gives_every_layer_the_same_sparsity(cnn):
    per_layer = magnitude_prune(cnn, 0.6, scope="layer")
    assert all(s == pytest.approx(0.6, abs=0.01) for s in per_layer.values())
    global_cnn = small_model("simple_cnn")
    spread = sparsity_by_layer(global_cnn) | magnitude_prune(global_cnn, 0.6)
    assert max(spread.values()) - min(spread.values()) > 0.1


def test_pruning_is_cumulative_and_layer_overrides_apply(cnn):
    magnitude_prune(cnn, 0.5)
    zeros_before = {n: m.weight == 0 for n, m in cnn.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    per_layer = magnitude_prune(cnn, 0.7, layer_sparsity={"classifier": 0.2})
    assert per_layer["classifier"] == pytest.approx(0.2, abs=0.01)
    for name, was_zero in zeros_before.items():
        if name != "classifier":
            assert bool((dict(cnn.named_modules())[name].weight[was_zero] == 0).all())


def test_masks_survive_save_load_and_fine_tuning(cnn):
    x, y = small_input(8), torch.arange(8) % 10
    magnitude_prune(cnn, 0.8)
    buffer = io.BytesIO()
    torch.save(cnn.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = small_model("simple_cnn")
    restore_masks(fresh, state)
    fresh.load_state_dict(state)
    assert overall_sparsity(fresh) == pytest.approx(0.8, abs=1e-3)
    fresh.train()
    opt = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(fresh(x), y).backward()
        opt.step()
    fresh(x)  # the forward pre-hook re-applies the mask to the updated dense weights
    assert overall_sparsity(fresh) == pytest.approx(0.8, abs=1e-3)
    make_permanent(fresh)
    assert not any(k.endswith("weight_mask") for k in fresh.state_dict())
    assert overall_sparsity(fresh) == pytest.approx(0.8, abs=1e-3)


@pytest.mark.parametrize("bad", [-0.5, 1.0, 2])
def test_bad_sparsity_fails_before_masking(cnn, bad):
    with pytest.raises(PruningError, match="sparsity must be in"):
        magnitude_prune(cnn, bad)
    assert not any(k.endswith("weight_mask") for k in cnn.state_dict())


def test_unknown_layer_and_scope_are_named(cnn):
    with pytest.raises(PruningError, match="no prunable .* layer named 'features.42'"):
        magnitude_prune(cnn, 0.5, layers=["features.42"])
    with pytest.raises(PruningError, match="no prunable .* layer named 'nope'"):
        magnitude_prune(cnn, 0.5, layer_sparsity={"nope": 0.5})
    with pytest.raises(PruningError, match="scope must be"):
        magnitude_prune(cnn, 0.5, scope="channel")
    assert not any(k.endswith("weight_mask") for k in cnn.state_dict())


def test_restore_masks_rejects_unknown_layers(cnn):
    with pytest.raises(PruningError, match="'ghost'"):
        restore_masks(cnn, {"ghost.weight_mask": torch.ones(1)})


def test_lamp_scores_match_a_numpy_reference():
    import numpy as np

    from compression.pruning import lamp_scores

    layer = nn.Linear(3, 2, bias=False)
    w = np.array([[0.5, -2.0, 1.0], [0.1, -1.5, 3.0]], dtype=np.float32)  # no ties: their order is arbitrary
    layer.weight.data = torch.from_numpy(w)
    sq = (w.astype(np.float64) ** 2).ravel()
    expected = np.array([v / sq[sq >= v].sum() for v in sq]).reshape(w.shape)
    got = lamp_scores(layer).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got.max() == pytest.approx(1.0)


def test_lamp_keeps_a_layer_of_small_weights_that_global_magnitude_wipes_out():
    def model() -> nn.Module:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
        net[2].weight.data *= 1e-3  # a layer whose weights are all smaller than everyone else's
        return net

    plain, lamp = model(), model()
    # 80% of all weights is more than the small layer holds: plain global magnitude takes all of it
    assert magnitude_prune(plain, 0.8, scope="global")["2"] == 1.0
    per_layer = magnitude_prune(lamp, 0.8, scope="lamp")
    assert overall_sparsity(lamp) == pytest.approx(0.8, abs=1e-3)
    assert max(per_layer.values()) < 1.0
