"""Min/max: the full observed range (never clips, wastes levels on outliers)."""

from __future__ import annotations

import torch

from compression.quantization.calibrators.base import CALIBRATORS, Calibrator
from compression.quantization.spec import QuantSpec


@CALIBRATORS.register("minmax")
class MinMaxCalibrator(Calibrator):
    def __init__(self) -> None:
        super().__init__()
        self.lo: torch.Tensor | None = None
        self.hi: torch.Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.lo = self.hi = None

    def _observe(self, rows: torch.Tensor) -> None:
        lo, hi = rows.amin(dim=1), rows.amax(dim=1)
        self.lo = lo if self.lo is None else torch.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else torch.maximum(self.hi, hi)

    def _range(self, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lo.clone(), self.hi.clone()
