"""Percentile: clip at a high quantile of the observed values (|x| for symmetric grids)."""

from __future__ import annotations

import torch

from compression.quantization.calibrators.base import CALIBRATORS, SampleCalibrator
from compression.quantization.spec import QuantSpec


@CALIBRATORS.register("percentile")
class PercentileCalibrator(SampleCalibrator):
    def __init__(self, percentile: float = 99.99, max_samples: int = 1 << 18) -> None:
        super().__init__(max_samples)
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.q = percentile / 100.0

    def channel_range(self, values: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        if spec.symmetric:
            amax = torch.quantile(values.abs(), self.q)
            return -amax, amax
        return torch.quantile(values, 1.0 - self.q), torch.quantile(values, self.q)
