"""Mixed precision: per-layer sensitivity (accuracy + SQNR) on validation batches, bit widths under a
weight-size budget, then PTQ with those widths. The sensitivity table is saved with the run."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from compression.quantization import LayerOverride, QuantConfig, calibrate, quantize_model
from compression.quantization.mixed_precision import assign_bits, layer_sensitivity, weight_only_spec
from configs.schema.compress import MixedConfig
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.training import evaluate


def _assignment(ctx: CompressContext) -> dict[str, int]:
    """Bits per layer: computed on a fresh run, read back from the run directory on a rebuild."""
    path = ctx.run.path / "bit_assignment.json" if ctx.run is not None else None
    if ctx.data is None:
        return json.loads(path.read_text())
    mixed: MixedConfig = ctx.options
    batches = [b for _, b in zip(range(mixed.eval_batches), ctx.data.val_loader)]
    if not batches:
        raise ValueError("mixed precision needs validation data for the sensitivity measurement")
    inputs = torch.cat([x for x, _ in batches])

    def accuracy(model: nn.Module) -> float:
        return evaluate(model, batches, "cpu")["top1"]

    rows = layer_sensitivity(ctx.fp32_model, weight_only_spec(ctx.quant.weight), list(mixed.candidate_bits),
                             inputs, accuracy)
    quantized = {r.layer: r.params for r in rows}
    total = sum(p.numel() for p in ctx.fp32_model.parameters())
    fp32_bytes = total * 4.0
    fixed = (total - sum(quantized.values())) * 4.0  # biases, norms: stay float
    bits = assign_bits(rows, mixed.size_budget * fp32_bytes, fixed)
    ctx.run.path.joinpath("sensitivity.json").write_text(json.dumps([r.as_dict() for r in rows], indent=1))
    path.write_text(json.dumps(bits, indent=1, sort_keys=True))
    ctx.info["bit_histogram"] = {str(b): sum(1 for v in bits.values() if v == b) for b in sorted(set(bits.values()))}
    return bits


def prepare(ctx: CompressContext) -> nn.Module:
    bits = _assignment(ctx)
    overrides = dict(ctx.quant.overrides)
    overrides.update({name: LayerOverride(weight_bits=b) for name, b in bits.items()})
    config = QuantConfig(ctx.quant.weight, ctx.quant.activation, overrides, ctx.quant.functional, ctx.quant.fold_bn)
    qmodel, report = quantize_model(ctx.fp32_model, config, ctx.example_input)
    ctx.info.update(quantized_layers=len(report.quantized_layers), untraced=report.untraced)
    return qmodel


def run(ctx: CompressContext, qmodel: nn.Module) -> dict[str, Any]:
    seen = calibrate(qmodel, ctx.data.train_loader, ctx.cfg.compress.ptq.calibration_batches, ctx.cfg.train.device)
    return {"calibration_batches": seen}


COMPRESS_METHODS.add("mixed", CompressMethod(prepare, run, options=MixedConfig))
