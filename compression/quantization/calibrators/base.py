"""Calibrator interface: observe tensors, then propose a clipping range [lo, hi] for a ``QuantSpec``."""

from __future__ import annotations

import torch

from compression.quantization.spec import QuantSpec
from configs.registry import Registry


class CalibrationError(RuntimeError):
    """A range was asked for before any data was observed, or the data cannot be used."""


def channel_view(x: torch.Tensor, ch_axis: int | None) -> torch.Tensor:
    """[C, N] (one row per channel) or [1, N] for per-tensor statistics."""
    if ch_axis is None:
        return x.reshape(1, -1)
    return x.transpose(0, ch_axis).reshape(x.shape[ch_axis], -1)


class Calibrator:
    """Accumulates statistics of every tensor passed to ``observe``; ``range`` turns them into [lo, hi]."""

    def __init__(self) -> None:
        self.batches = 0

    def reset(self) -> None:
        self.batches = 0

    def observe(self, x: torch.Tensor, ch_axis: int | None) -> None:
        self.batches += 1
        self._observe(channel_view(x.detach().float(), ch_axis))

    def range(self, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batches == 0:
            raise CalibrationError(f"{type(self).__name__} has observed zero batches; run calibration data first")
        return self._range(spec)

    def _observe(self, rows: torch.Tensor) -> None:
        raise NotImplementedError

    def _range(self, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class SampleCalibrator(Calibrator):
    """Keeps a bounded random sample of each channel's values (range searches need the distribution)."""

    def __init__(self, max_samples: int = 1 << 18) -> None:
        super().__init__()
        self.max_samples = max_samples
        self.samples: torch.Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.samples = None

    def _observe(self, rows: torch.Tensor) -> None:
        merged = rows if self.samples is None else torch.cat((self.samples, rows), dim=1)
        if merged.shape[1] > self.max_samples:
            # a fixed generator keeps calibration reproducible without touching the global RNG
            gen = torch.Generator().manual_seed(self.batches)
            keep = torch.randperm(merged.shape[1], generator=gen)[: self.max_samples]
            merged = merged[:, keep]
        self.samples = merged

    def _range(self, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.samples is not None
        if self.samples.shape[1] == 0:
            raise CalibrationError(f"{type(self).__name__} observed only empty tensors")
        out = [self.channel_range(row, spec) for row in self.samples]
        return torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])

    def channel_range(self, values: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


CALIBRATORS: Registry[type[Calibrator]] = Registry("calibrator")
