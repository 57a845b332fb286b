"""Post-training quantization improvements: cross-layer equalization (before quantizers are inserted),
AdaRound learned rounding and empirical bias correction (after calibration)."""

from compression.quantization.ptq.adaround import adaround
from compression.quantization.ptq.bias_correction import correct_bias
from compression.quantization.ptq.cle import CLEReport, equalize_cross_layer

__all__ = ["CLEReport", "adaround", "correct_bias", "equalize_cross_layer"]
