"""Binary and ternary networks (BNN, XNOR-Net, TWN): binarize all but the first and last weight layers
(kept at ``binary.keep_bits``), with binary activations drop the ReLUs in front of binary layers so that
sign() sees the BN output (``activations_removed`` in the metrics), calibrate the remaining quantizers,
then fine-tune from the fp32 model and re-estimate the BatchNorm statistics."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from compression.quantization import QuantConfig, calibrate, quantize_model
from compression.quantization.binary import BINARY_SCHEMES, binarize_model
from compression.quantization.mixed_precision import weight_only_spec
from compression.quantization.modules import QuantizedLayer
from configs.schema.compress import BinaryConfig
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.qat import quantized_finetune
from experiments.training.batchnorm import reestimate_batchnorm


def prepare(ctx: CompressContext) -> nn.Module:
    binary: BinaryConfig = ctx.options
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
    binarized = binarize_model(qmodel, binary.variant, keep, ctx.quant.activation, ctx.example_input)
    ctx.info.update(binarized_layers=len(binarized.layers), kept_layers=sorted(keep), untraced=report.untraced,
                    activations_removed=len(binarized.activations_removed),
                    removed_activations=binarized.activations_removed,
                    kept_activations=binarized.activations_kept)
    return qmodel


def run(ctx: CompressContext, qmodel: nn.Module) -> dict[str, Any]:
    binary: BinaryConfig = ctx.options
    batches, device = ctx.cfg.compress.ptq.calibration_batches, ctx.cfg.train.device
    seen = calibrate(qmodel, ctx.data.train_loader, batches, device)
    trained = quantized_finetune(ctx, qmodel, binary.epochs, binary.lr, "binary")
    bn_batches = reestimate_batchnorm(qmodel, ctx.data.train_loader, batches, device)
    return {"calibration_batches": seen, "bn_reestimation_batches": bn_batches, **trained}


COMPRESS_METHODS.add("binary", CompressMethod(prepare, run, options=BinaryConfig))
