"""Quantization-aware training: folded-BN layers with BN freezing, the BN-freeze callback and
distillation from the fp32 model. STE, LSQ and PACT quantizers live in ``fake_quant``."""

from compression.quantization.qat.callbacks import FreezeBatchNorm
from compression.quantization.qat.conv_bn import QuantizedConvBn, attach_batchnorm
from compression.quantization.qat.distill import distillation_loss

__all__ = ["FreezeBatchNorm", "QuantizedConvBn", "attach_batchnorm", "distillation_loss"]
