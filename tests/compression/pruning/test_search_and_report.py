"""Sensitivity analysis, NetAdapt with an injected latency measurement, and the report."""

from __future__ import annotations

import pytest
import torch

from compression.pruning import (
    PruningError,
    layer_sensitivity,
    magnitude_prune,
    netadapt,
    propose_ratios,
    prune_structured,
    pruning_report,
)
from tests.compression.pruning.helpers import macs, same_state, small_input, small_model, state_copy


@pytest.fixture(scope="module")
def cnn():
    return small_model("simple_cnn")


def _fidelity(reference: torch.nn.Module, x: torch.Tensor):
    """A cheap accuracy stand-in: agreement of the model's outputs with the unpruned model's."""
    with torch.no_grad():
        target = reference(x)

    def evaluate(model: torch.nn.Module) -> float:
        with torch.no_grad():
            return -float((model(x) - target).pow(2).mean())

    return evaluate


def test_sensitivity_table_and_proposal(cnn):
    x = small_input(4)
    evaluate = _fidelity(cnn, x)
    table = layer_sensitivity(cnn, x, evaluate, ratios=(0.25, 0.75))
    assert set(table) == {"features.0.conv", "features.1.conv", "features.2.conv", "features.3.conv",
                          "features.4.conv", "features.5.conv"}
    for by_ratio in table.values():
        assert by_ratio[0.75] <= by_ratio[0.25] <= 0.0  # more pruning, further from the original
    baseline = evaluate(cnn)
    worst = min(m for r in table.values() for m in r.values())
    assert propose_ratios(table, baseline, max_drop=0.0) == dict.fromkeys(table, 0.0)
    assert propose_ratios(table, baseline, max_drop=baseline - worst + 1) == dict.fromkeys(table, 0.75)


def test_netadapt_reaches_a_latency_budget_with_a_fake_measurement(cnn):
    x = small_input()
    before = state_copy(cnn)
    full = macs(cnn, x)

    def fake_latency_ms(model):  # 1 ms per 10 MMACs: deterministic and monotone in width
        return macs(model, x) / 1e7

    budget = 0.6 * full / 1e7
    result = netadapt(cnn, x, budget, fake_latency_ms, _fidelity(cnn, x), step_ratio=0.25, round_to=8)
    assert result.reached_budget and result.latency_ms_after <= budget
    assert result.latency_ms_after == pytest.approx(fake_latency_ms(result.model))
    assert result.steps and all(b.latency_ms < a.latency_ms for a, b in zip(result.steps, result.steps[1:]))
    assert result.pruned_shapes
    assert same_state(before, state_copy(cnn))


def test_netadapt_rejects_bad_budget(cnn):
    with pytest.raises(PruningError, match="budget"):
        netadapt(cnn, small_input(), 0.0, lambda m: 1.0, lambda m: 1.0)


def test_report_counts_macs_params_and_sparsity(cnn):
    x = small_input()
    pruned = prune_structured(cnn, x, 0.5).model
    report = pruning_report(cnn, pruned, (1, 1, 32, 32), latency_ms=(2.0, 1.6))
    assert report.macs_after == macs(pruned, x) < report.macs_before == macs(cnn, x)
    assert report.params_after < report.params_before
    assert report.mac_reduction > 1 and report.speedup == pytest.approx(1.25)
    assert "engine latency" in report.to_markdown()
    sparse = small_model("simple_cnn")
    magnitude_prune(sparse, 0.5)
    sparse_report = pruning_report(cnn, sparse, (1, 1, 32, 32))
    assert sparse_report.sparsity == pytest.approx(0.5, abs=1e-3)
    assert sparse_report.macs_after == sparse_report.macs_before  # dense MACs: zeros are not skipped
    assert sparse_report.as_dict()["speedup"] is None
