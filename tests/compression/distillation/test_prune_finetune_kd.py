"""Distillation during the fine-tuning that follows pruning (``compress.options.distill_teacher``)."""

from __future__ import annotations

import pytest
import torch

from compression.distillation import LogitDistillation
from experiments.compress_methods.prune_common import FinetuneDistillOptions, finetune_criterion
from tests.compression.pruning.test_methods import _compress, _context


def test_source_teacher_is_a_frozen_copy_of_the_unpruned_model(tmp_path):
    ctx = _context(tmp_path, "prune_structured", {})
    criterion = finetune_criterion(ctx, FinetuneDistillOptions(distill_teacher="source", distill_alpha=0.7))
    assert isinstance(criterion, LogitDistillation) and criterion.alpha == 0.7
    x = ctx.example_input
    with torch.no_grad():
        torch.testing.assert_close(criterion.teacher_logits(x), ctx.fp32_model(x))
    assert criterion.teacher is not ctx.fp32_model
    assert not any(p.requires_grad for p in criterion.teacher.parameters())
    assert finetune_criterion(ctx, FinetuneDistillOptions()) is None


@pytest.mark.parametrize("method", ["prune_structured", "prune_unstructured"])
def test_pruning_finetune_with_distillation_trains_differently(tmp_path, method):
    options = {"finetune_epochs": 1, **({"measure_latency": False} if method == "prune_structured" else {})}
    plain, _ = _compress(_context(tmp_path / "plain", method, options))
    kd, info = _compress(_context(tmp_path / "kd", method, {**options, "distill_teacher": "source"}))
    assert info["finetune_epochs"] == 1
    # same seed, same data: only the loss differs, so the fine-tuned weights must too
    differs = [not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), kd.state_dict().values())
               if a.is_floating_point()]
    assert any(differs)


def test_bad_distillation_alpha_is_named(tmp_path):
    ctx = _context(tmp_path, "prune_structured", {})
    with pytest.raises(ValueError, match="alpha"):
        finetune_criterion(ctx, FinetuneDistillOptions(distill_teacher="source", distill_alpha=2.0))
