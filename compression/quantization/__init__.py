"""Quantization toolbox: specs, fake quantization, calibrators, insertion, PTQ, QAT, mixed precision,
binary/ternary networks and the layer-by-layer parity checker against the exported QDQ model."""

from compression.quantization.calibrate import calibrate
from compression.quantization.calibrators import CALIBRATORS, CalibrationError
from compression.quantization.config import LayerOverride, QuantConfig, TensorQuant
from compression.quantization.fake_quant import QUANTIZERS, FakeQuantize, LSQFakeQuantize, PACTFakeQuantize
from compression.quantization.insert import (
    UnsupportedLayerError,
    quantize_model,
    quantizers,
    set_quant_mode,
)
from compression.quantization.modules import QAdd, QCat, QMatMul, QMul, QSoftmax, QuantizedLayer
from compression.quantization.spec import ROUNDING, QuantSpec, QuantSpecError

__all__ = [
    "CALIBRATORS",
    "QUANTIZERS",
    "ROUNDING",
    "CalibrationError",
    "FakeQuantize",
    "LSQFakeQuantize",
    "LayerOverride",
    "PACTFakeQuantize",
    "QAdd",
    "QCat",
    "QMatMul",
    "QMul",
    "QSoftmax",
    "QuantConfig",
    "QuantSpec",
    "QuantSpecError",
    "QuantizedLayer",
    "TensorQuant",
    "UnsupportedLayerError",
    "calibrate",
    "quantize_model",
    "quantizers",
    "set_quant_mode",
]
