"""MSE-optimal range: the clipping threshold that minimises the quantization error of the observed values."""

from __future__ import annotations

import torch

from compression.quantization.calibrators.base import CALIBRATORS, SampleCalibrator
from compression.quantization.spec import QuantSpec, compute_qparams


def quant_mse(values: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    scale, zp = compute_qparams(spec, lo.reshape(1), hi.reshape(1))
    q = torch.fake_quantize_per_tensor_affine(values, scale, zp, spec.qmin, spec.qmax)
    return (q - values).pow(2).mean()


@CALIBRATORS.register("mse")
class MSECalibrator(SampleCalibrator):
    def __init__(self, steps: int = 100, min_ratio: float = 0.05, max_samples: int = 1 << 18) -> None:
        super().__init__(max_samples)
        self.ratios = torch.linspace(min_ratio, 1.0, steps)

    def channel_range(self, values: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = values.min(), values.max()
        if spec.symmetric:
            hi = torch.maximum(-lo, hi)
            lo = -hi
        # shrink both ends by the same ratio; a grid search is enough for a 1-D convex-ish curve
        errors = torch.stack([quant_mse(values, lo * r, hi * r, spec) for r in self.ratios])
        best = self.ratios[int(errors.argmin())]
        return lo * best, hi * best
