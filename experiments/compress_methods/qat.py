"""Quantization-aware training: PTQ initialisation, then fine-tuning with the configured quantizers
(STE / LSQ / PACT), folded-BN simulation with BN freezing, optional distillation from fp32."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from compression.distillation import LogitDistillation
from compression.quantization import calibrate, quantize_model, set_quant_mode
from compression.quantization.qat import FreezeBatchNorm, attach_batchnorm
from configs.schema.compress import QATConfig
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.finetuning import finetune


def prepare(ctx: CompressContext) -> nn.Module:
    qmodel, report = quantize_model(ctx.fp32_model, ctx.quant, ctx.example_input)
    # with fold_bn=false the BNs are still there: train them folded (Jacob et al.)
    ctx.info.update(conv_bn=attach_batchnorm(qmodel), quantized_layers=len(report.quantized_layers),
                    quantized_functional=len(report.quantized_functional),
                    probability_grids=len(report.probability_inputs), untraced=report.untraced)
    return qmodel


def quantized_finetune(ctx: CompressContext, qmodel: nn.Module, epochs: int, lr: float, subdir: str) -> dict[str, Any]:
    """``finetune`` on the QAT schedule settings (``compress.qat``): quantizer ranges tracked while training
    and frozen after, BN freezing, distillation from the fp32 model when ``distill_weight`` > 0. Its
    figures are ``qat_*`` whatever the subdirectory, so the report reads every such run alike."""
    qat = ctx.cfg.compress.qat
    criterion = None
    if qat.distill_weight > 0:
        criterion = LogitDistillation(copy.deepcopy(ctx.fp32_model), qat.distill_temperature, qat.distill_weight)
    set_quant_mode(qmodel, "track")
    info = finetune(ctx, qmodel, epochs, lr, subdir, metrics_prefix="qat", criterion=criterion,
                    callbacks=[FreezeBatchNorm(qat.bn_freeze_epoch)])
    set_quant_mode(qmodel, "frozen")
    return info


def run(ctx: CompressContext, qmodel: nn.Module) -> dict[str, Any]:
    qat: QATConfig = ctx.options
    seen = calibrate(qmodel, ctx.data.train_loader, ctx.cfg.compress.ptq.calibration_batches, ctx.cfg.train.device)
    return {"calibration_batches": seen, **quantized_finetune(ctx, qmodel, qat.epochs, qat.lr, "qat")}


COMPRESS_METHODS.add("qat", CompressMethod(prepare, run, options=QATConfig))
