"""The export-time form of a fake quantizer: an autograd Function whose ONNX symbolic is
QuantizeLinear -> DequantizeLinear (with a float Clip first when the grid is narrower than its
8-bit container, e.g. 4-bit activations, so ONNX saturates where PyTorch clamps)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class QDQParams:
    name: str
    role: str
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None
    qmin: int
    qmax: int
    signed: bool
    bits: int

    def __post_init__(self) -> None:
        # a grid from non-finite statistics (a diverged model fed NaN/inf to its calibrator) would otherwise
        # surface deep in the trace as "value cannot be converted to type uint8 without overflow"
        lo, hi = self.container_range
        bad_zp = [z for z in self.zero_point if not lo <= z <= hi]
        bad_scale = [s for s in self.scale if not (math.isfinite(s) and s > 0)]
        if bad_zp or bad_scale:
            raise ValueError(
                f"quantizer '{self.name}' has no valid grid (scale {bad_scale[:3] or 'ok'}, zero point "
                f"{bad_zp[:3] or 'ok'} outside [{lo}, {hi}]): the statistics it was calibrated on (or its learned "
                "step) were not finite, i.e. the model diverged to NaN/inf activations before export"
            )

    @property
    def container_range(self) -> tuple[int, int]:
        return (-128, 127) if self.signed else (0, 255)

    def clip_bounds(self) -> tuple[float, float] | None:
        """Float bounds that make an 8-bit QuantizeLinear saturate at [qmin, qmax]; None if not needed."""
        if (self.qmin, self.qmax) == self.container_range:
            return None
        if self.axis is not None:
            raise ValueError(f"quantizer '{self.name}': a per-channel grid narrower than 8 bits is only "
                             "exportable for weights")
        s, z = self.scale[0], self.zero_point[0]
        return (self.qmin - z) * s, (self.qmax - z) * s


def _tensor_args(p: QDQParams, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    scale = torch.tensor(p.scale, dtype=torch.float32)
    zp = torch.tensor(p.zero_point, dtype=torch.int32)
    return scale, zp, (p.axis % x.dim()) if p.axis is not None else 0


class QuantizeDequantize(torch.autograd.Function):
    # the trace records the symbolic calls in graph order; the exporter matches them to Q nodes
    recorded: list[QDQParams] | None = None

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: QDQParams) -> torch.Tensor:  # noqa: D102
        scale, zp, axis = _tensor_args(p, x)
        if p.axis is not None:
            return torch.fake_quantize_per_channel_affine(x, scale, zp, axis, p.qmin, p.qmax)
        return torch.fake_quantize_per_tensor_affine(x, scale, zp, p.qmin, p.qmax)

    @staticmethod
    def symbolic(g, x, p: QDQParams):  # noqa: ANN001, D102
        if QuantizeDequantize.recorded is not None:
            QuantizeDequantize.recorded.append(p)
        zp_dtype = torch.int8 if p.signed else torch.uint8
        per_channel = p.axis is not None
        scale_t = torch.tensor(p.scale if per_channel else p.scale[0], dtype=torch.float32)
        zp_t = torch.tensor(p.zero_point if per_channel else p.zero_point[0], dtype=zp_dtype)
        scale = g.op("Constant", value_t=scale_t)
        zp = g.op("Constant", value_t=zp_t)
        bounds = p.clip_bounds() if p.role == "activation" else None
        if bounds is not None:
            lo = g.op("Constant", value_t=torch.tensor(bounds[0], dtype=torch.float32))
            hi = g.op("Constant", value_t=torch.tensor(bounds[1], dtype=torch.float32))
            x = g.op("Clip", x, lo, hi)
        kwargs = {"axis_i": p.axis} if per_channel else {}
        q = g.op("QuantizeLinear", x, scale, zp, **kwargs)
        return g.op("DequantizeLinear", q, scale, zp, **kwargs)
