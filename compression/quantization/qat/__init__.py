"""Quantization-aware training: folded-BN layers with BN freezing and the BN-freeze callback. STE, LSQ
and PACT quantizers live in ``fake_quant``; distillation from the fp32 model is
``compression.distillation.LogitDistillation``, the criterion every distilling method trains with."""

from compression.quantization.qat.callbacks import FreezeBatchNorm
from compression.quantization.qat.conv_bn import QuantizedConvBn, attach_batchnorm

__all__ = ["FreezeBatchNorm", "QuantizedConvBn", "attach_batchnorm"]
