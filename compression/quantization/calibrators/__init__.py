"""PTQ calibrators, one module each, selected by name from ``CALIBRATORS``."""

from compression.quantization.calibrators import (  # noqa: F401
    entropy,
    minmax,
    moving_average,
    mse,
    percentile,
    probability,
)
from compression.quantization.calibrators.base import CALIBRATORS, CalibrationError, Calibrator

__all__ = ["CALIBRATORS", "CalibrationError", "Calibrator", "build_calibrator"]


def build_calibrator(name: str, **kwargs: object) -> Calibrator:
    return CALIBRATORS.get(name)(**kwargs)
