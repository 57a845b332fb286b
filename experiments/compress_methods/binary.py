"""Binary and ternary networks (BNN, XNOR-Net, TWN): binarize all but the first and last weight layers
(kept at ``binary.keep_bits``), calibrate the remaining quantizers, then fine-tune from the fp32 model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from compression.quantization import QuantConfig, calibrate, quantize_model
from compression.quantization.binary import BINARY_SCHEMES, binarize_model
from compression.quantization.mixed_precision import weight_only_spec
from compression.quantization.modules import QuantizedLayer
from experiments.compress_methods import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.qat import finetune


def prepare(ctx: CompressContext) -> nn.Module:
    binary = ctx.cfg.compress.binary
    BINARY_SCHEMES.get(binary.variant)  # an unknown variant fails before any work
    weight = weight_only_spec(ctx.quant.weight)
    weight = replace(weight, spec=replace(weight.spec, bits=binary.keep_bits))
    config = QuantConfig(weight, ctx.quant.activation, ctx.quant.overrides, ctx.quant.functional, fold_bn=False)
    qmodel, report = quantize_model(ctx.fp32_model, config, ctx.example_input)
    layers = [n for n, m in qmodel.named_modules() if type(m) is QuantizedLayer]
    if len(layers) < 3:
        raise ValueError(f"binary networks keep the first and last layers at higher precision; the model has "
                         f"only {len(layers)} quantizable layers")
    keep = {layers[0], layers[-1]}
    binarized = binarize_model(qmodel, binary.variant, keep, ctx.quant.activation)
    ctx.info.update(binarized_layers=len(binarized), kept_layers=sorted(keep), untraced=report.untraced)
    return qmodel


def run(ctx: CompressContext, qmodel: nn.Module) -> dict[str, Any]:
    binary = ctx.cfg.compress.binary
    seen = calibrate(qmodel, ctx.data.train_loader, ctx.cfg.compress.ptq.calibration_batches, ctx.cfg.train.device)
    return {"calibration_batches": seen, **finetune(ctx, qmodel, binary.epochs, binary.lr, "binary")}


COMPRESS_METHODS.add("binary", CompressMethod(prepare, run))
