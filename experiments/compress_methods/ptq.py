"""Post-training quantization: insert quantizers, calibrate, then the optional PTQ improvements."""

from __future__ import annotations

from typing import Any

from torch import nn

from compression.quantization import calibrate, quantize_model
from compression.quantization.ptq import adaround, correct_bias, equalize_cross_layer
from configs.schema.compress import PTQConfig
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod


def prepare(ctx: CompressContext) -> nn.Module:
    model = ctx.fp32_model
    ptq: PTQConfig = ctx.options
    if ptq.cross_layer_equalization:
        # CLE rescales the float weights, so it comes before the quantizers are built
        model, cle = equalize_cross_layer(model, ctx.example_input, relu6_to_relu=ptq.cle_relu6_to_relu)
        ctx.info.update(cle_pairs=cle.equalized, cle_pairs_found=cle.pairs_found,
                        cle_skipped_relu6=cle.skipped_relu6, cle_relu6_replaced=cle.relu6_replaced)
    qmodel, report = quantize_model(model, ctx.quant, ctx.example_input)
    ctx.info.update(
        folded_bn=report.folded_bn,
        quantized_layers=len(report.quantized_layers),
        quantized_functional=len(report.quantized_functional), probability_grids=len(report.probability_inputs),
        untraced=report.untraced,
    )
    return qmodel


def run(ctx: CompressContext, qmodel: nn.Module) -> dict[str, Any]:
    ptq: PTQConfig = ctx.options
    seen = calibrate(qmodel, ctx.data.train_loader, ptq.calibration_batches, ctx.cfg.train.device)
    info: dict[str, Any] = {"calibration_batches": seen}
    # AdaRound first: bias correction then measures the shift of the final rounding
    if ptq.adaround:
        info["adaround_layers"] = adaround(qmodel, ctx.data.train_loader, ptq.calibration_batches, ptq.adaround_iters)
    if ptq.bias_correction:
        info["bias_corrected_layers"] = correct_bias(qmodel, ctx.data.train_loader, ptq.calibration_batches)
    return info


COMPRESS_METHODS.add("ptq", CompressMethod(prepare, run, options=PTQConfig))
