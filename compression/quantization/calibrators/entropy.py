"""Entropy calibration (TensorRT-style): histogram of |x|, then the threshold whose quantized
distribution has the smallest KL divergence from the clipped reference distribution."""

from __future__ import annotations

import torch

from compression.quantization.calibrators.base import CALIBRATORS, SampleCalibrator
from compression.quantization.spec import QuantSpec


def _kl(p: torch.Tensor, q: torch.Tensor) -> float:
    p = p / p.sum()
    q = q / q.sum().clamp(min=1e-12)
    mask = p > 0
    return float((p[mask] * torch.log(p[mask] / q[mask].clamp(min=1e-12))).sum())


def kl_threshold(hist: torch.Tensor, edges: torch.Tensor, levels: int, start: int) -> float:
    """Upper edge of the best clipping bin ``i``: reference P = hist[:i] with the clipped tail added to
    its last bin, candidate Q = P merged into ``levels`` bins and expanded back over the non-empty bins."""
    best_i, best_kl = len(hist), float("inf")
    for i in range(max(start, levels), len(hist) + 1):
        p = hist[:i].clone()
        p[-1] += hist[i:].sum()
        ref = hist[:i]
        chunk = torch.arange(i) * levels // i  # which of the `levels` merged bins each bin falls into
        nonzero = (ref > 0).float()
        sums = torch.zeros(levels).index_add_(0, chunk, ref)
        counts = torch.zeros(levels).index_add_(0, chunk, nonzero)
        q = (sums / counts.clamp(min=1))[chunk] * nonzero
        kl = _kl(p, q)
        if kl < best_kl:
            best_i, best_kl = i, kl
    return float(edges[best_i])


@CALIBRATORS.register("entropy")
class EntropyCalibrator(SampleCalibrator):
    def __init__(self, bins: int = 2048, max_samples: int = 1 << 18) -> None:
        super().__init__(max_samples)
        self.bins = bins

    def _threshold(self, magnitudes: torch.Tensor, levels: int) -> torch.Tensor:
        # exact zeros (ReLU outputs, padding) are exact on every grid; left in, their spike in the first
        # bin dominates P and drags the threshold far too low
        magnitudes = magnitudes[magnitudes > 0]
        if magnitudes.numel() == 0:
            return torch.zeros(())
        amax = float(magnitudes.max())
        hist = torch.histc(magnitudes, bins=self.bins, min=0.0, max=amax)
        edges = torch.linspace(0.0, amax, self.bins + 1)
        return torch.tensor(kl_threshold(hist, edges, levels, start=self.bins // 16))

    def channel_range(self, values: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        if bool(values.min() >= 0):
            return torch.zeros(()), self._threshold(values, spec.levels)
        if spec.symmetric:
            # levels available on one side of zero: a signed grid splits them between both signs
            t = self._threshold(values.abs(), spec.levels // 2)
            return -t, t
        # an affine grid need not be centred: each side gets its own threshold (for a normalized image,
        # |x| would be dominated by the background value and clip the whole foreground)
        return -self._threshold(-values, spec.levels // 2), self._threshold(values, spec.levels // 2)
