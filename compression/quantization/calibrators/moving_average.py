"""Moving-average min/max: an exponential average of per-batch extremes (robust to single outlier batches,
the usual choice for activations during QAT)."""

from __future__ import annotations

import torch

from compression.quantization.calibrators.base import CALIBRATORS, Calibrator
from compression.quantization.spec import QuantSpec


@CALIBRATORS.register("moving_average")
class MovingAverageCalibrator(Calibrator):
    def __init__(self, momentum: float = 0.01) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"moving_average momentum must be in (0, 1], got {momentum}")
        self.momentum = momentum
        self.lo: torch.Tensor | None = None
        self.hi: torch.Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.lo = self.hi = None

    def _observe(self, rows: torch.Tensor) -> None:
        lo, hi = rows.amin(dim=1), rows.amax(dim=1)
        if self.lo is None:
            self.lo, self.hi = lo, hi
            return
        self.lo = self.lo + self.momentum * (lo - self.lo)
        self.hi = self.hi + self.momentum * (hi - self.hi)

    def _range(self, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lo.clone(), self.hi.clone()
