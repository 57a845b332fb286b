"""Fixed grid for tensors known to lie in [0, 1] (softmax outputs): step 2**-k over [0, 1), whatever the data.

A calibrated step (say 0.9 / 255) is not what integer runtimes use: ONNX Runtime's QLinearSoftmax
multiplies by ``floor(1 / step)``, so such a step biases every probability downwards (by 0.17 of a step
for a probability of 0.5 at 0.9 / 255), and the simulation and the runtime disagree on many attention
weights. With a power-of-two step ``1 / step`` is an exact integer and both compute the same grid
(TFLite fixes int8 softmax outputs to step 1/256 for the same reason).
"""

from __future__ import annotations

import math

import torch

from compression.quantization.calibrators.base import CALIBRATORS, CalibrationError, Calibrator
from compression.quantization.spec import QuantSpec

# float error of a softmax, not a value outside [0, 1]
_SLACK = 1e-5


@CALIBRATORS.register("probability")
class ProbabilityCalibrator(Calibrator):
    def _observe(self, rows: torch.Tensor) -> None:
        lo, hi = float(rows.min()), float(rows.max())
        if lo < -_SLACK or hi > 1 + _SLACK:
            raise CalibrationError(
                f"the probability grid needs values in [0, 1] (softmax outputs); observed [{lo:.4g}, {hi:.4g}]"
            )

    def _range(self, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        # codes available from 0 upwards: all of them on an affine grid, 0..qmax on a symmetric one
        usable = spec.qmax + 1 if spec.symmetric else spec.qmax - spec.qmin + 1
        step = 2.0 ** -math.floor(math.log2(usable))
        top = step * (spec.qmax if spec.symmetric else spec.qmax - spec.qmin)
        return torch.zeros(1), torch.tensor([top])
