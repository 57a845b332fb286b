"""Fake-quantization modules built on PyTorch's own fake-quantize operators.

``torch.fake_quantize_per_{tensor,channel}_affine`` round half-to-even and pass the
gradient straight through inside the grid range (zero outside: the clipped STE).
A quantizer has three modes:

* ``observe``  calibration: statistics are collected, the tensor passes unchanged;
* ``track``    QAT: statistics are collected and the grid follows them every step;
* ``frozen``   the grid is fixed (after calibration, for evaluation and export).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from compression.quantization.calibrators import Calibrator, build_calibrator
from compression.quantization.spec import MIN_SCALE, QuantSpec, compute_qparams
from configs.registry import Registry

MODES = ("observe", "track", "frozen")


class QuantizerStateError(RuntimeError):
    """A quantizer used in a way its state does not allow (e.g. frozen before it saw data)."""


class FakeQuantize(nn.Module):
    """Quantize-dequantize one tensor on the grid of ``spec``; ``ch_axis`` selects per-channel grids."""

    def __init__(self, spec: QuantSpec, calibrator: Calibrator | str = "minmax", ch_axis: int | None = None,
                 reset_each_step: bool = False, channels: int = 1) -> None:
        super().__init__()
        if spec.per_channel and ch_axis is None:
            raise ValueError("a per-channel QuantSpec needs the channel axis of the tensor it quantizes")
        self.spec = spec
        self.ch_axis = ch_axis if spec.per_channel else None
        self.calibrator = build_calibrator(calibrator) if isinstance(calibrator, str) else calibrator
        # weights are re-observed from scratch each step (their range is the current tensor's)
        self.reset_each_step = reset_each_step
        # "weight" or "activation": the exporter stores weights as integer initializers
        self.role = "weight" if reset_each_step else "activation"
        self.mode = "observe"
        # sized up front so that a saved state loads strictly into a freshly built model
        n = channels if self.ch_axis is not None else 1
        self.register_buffer("scale", torch.ones(n))
        self.register_buffer("zero_point", torch.zeros(n, dtype=torch.int32))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool))
        # set by the export pass; a plain forward never needs it
        self.export_hook = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        # per-channel grids have one entry per channel: adopt the saved shape before loading
        for name in ("scale", "zero_point"):
            saved = state_dict.get(prefix + name)
            if saved is not None and saved.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(saved))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        s = self.spec
        kind = "sym" if s.symmetric else "affine"
        sign = "s" if s.signed else "u"
        gran = f"per_channel(axis={self.ch_axis})" if self.ch_axis is not None else "per_tensor"
        return f"{sign}{s.bits} {kind} {gran} mode={self.mode} calibrator={type(self.calibrator).__name__}"

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"quantizer mode must be one of {MODES}, got {mode!r}")
        if mode == "frozen" and not bool(self.calibrated) and self.calibrator.batches == 0:
            raise QuantizerStateError("cannot freeze a quantizer that has observed no data")
        if mode == "frozen" and self.mode != "frozen" and self.calibrator.batches > 0:
            self.update_qparams()
        self.mode = mode

    def observe(self, x: torch.Tensor) -> None:
        if self.reset_each_step:
            self.calibrator.reset()
        self.calibrator.observe(x, self.ch_axis)

    @torch.no_grad()
    def update_qparams(self) -> None:
        lo, hi = self.calibrator.range(self.spec)
        scale, zp = compute_qparams(self.spec, lo, hi)
        self.set_qparams(scale, zp)

    def set_qparams(self, scale: torch.Tensor, zp: torch.Tensor) -> None:
        self.scale = scale.detach().reshape(-1).float().clone()
        self.zero_point = zp.detach().reshape(-1).to(torch.int32).clone()
        self.calibrated.fill_(True)

    def quant_step(self) -> torch.Tensor:
        return self.scale.detach()

    def grid_spec(self) -> QuantSpec:
        """The integer grid actually used (PACT narrows its own)."""
        return self.spec

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if self.ch_axis is not None:
            return torch.fake_quantize_per_channel_affine(
                x, self.scale, self.zero_point, self.ch_axis % x.dim(), s.qmin, s.qmax
            )
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, s.qmin, s.qmax)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.export_hook is not None:
            return self.export_hook(self, x)
        if self.mode == "observe":
            self.observe(x.detach())
            return x
        if self.mode == "track" and self.training:
            self.observe(x.detach())
            self.update_qparams()
        if not bool(self.calibrated):
            raise QuantizerStateError("quantizer has no grid yet: calibrate (observe data) before quantizing")
        return self.fake_quant(x)


class LSQFakeQuantize(FakeQuantize):
    """LSQ (Esser et al., 2020): the step size is a parameter learned with gradient scale
    ``1 / sqrt(numel * qmax)``; built on ``torch._fake_quantize_learnable_*`` which implements
    exactly that gradient. The grid is initialised from the calibrator, then only learned."""

    def __init__(self, spec: QuantSpec, calibrator: Calibrator | str = "minmax", ch_axis: int | None = None,
                 reset_each_step: bool = False, channels: int = 1) -> None:
        super().__init__(spec, calibrator, ch_axis, reset_each_step, channels)
        self.step = nn.Parameter(torch.ones_like(self.scale))

    def set_qparams(self, scale: torch.Tensor, zp: torch.Tensor) -> None:
        super().set_qparams(scale, zp)
        with torch.no_grad():
            self.step.data = self.scale.clone()

    def set_mode(self, mode: str) -> None:
        # a learned step is never overwritten by statistics once training has started
        if mode == "track":
            mode = "frozen"
        super().set_mode(mode)

    def quant_step(self) -> torch.Tensor:
        return self.step.detach().abs().clamp(min=MIN_SCALE)

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        scale = self.step.abs().clamp(min=MIN_SCALE)
        self.scale = scale.detach().clone()
        numel = x.numel() // x.shape[self.ch_axis] if self.ch_axis is not None else x.numel()
        grad_factor = 1.0 / math.sqrt(max(numel, 1) * s.qmax)
        zp = self.zero_point.float()
        if self.ch_axis is not None:
            return torch._fake_quantize_learnable_per_channel_affine(
                x, scale, zp, self.ch_axis % x.dim(), s.qmin, s.qmax, grad_factor
            )
        return torch._fake_quantize_learnable_per_tensor_affine(x, scale, zp, s.qmin, s.qmax, grad_factor)


class PACTFakeQuantize(FakeQuantize):
    """PACT (Choi et al., 2018): activations clipped to a learned ``[0, alpha]`` (``[-alpha, alpha]``
    when signed) then quantized on that range; alpha gets the gradient of the clipped elements."""

    def __init__(self, spec: QuantSpec, calibrator: Calibrator | str = "minmax", ch_axis: int | None = None,
                 reset_each_step: bool = False, channels: int = 1, init_alpha: float = 6.0) -> None:
        if ch_axis is not None and spec.per_channel:
            raise ValueError("PACT learns one clipping level per tensor; use a per-tensor activation spec")
        super().__init__(spec, calibrator, None, reset_each_step)
        self.alpha = nn.Parameter(torch.tensor([init_alpha]))

    @torch.no_grad()
    def update_qparams(self) -> None:
        lo, hi = self.calibrator.range(self.spec)
        top = torch.maximum(-lo, hi).max() if self.spec.signed else hi.max()
        self.alpha.data = top.reshape(1).clamp(min=MIN_SCALE).clone()
        self._sync()

    def _sync(self) -> None:
        scale, zp = compute_qparams(self.grid_spec(), -self.alpha.detach(), self.alpha.detach())
        super().set_qparams(scale, zp)

    def grid_spec(self) -> QuantSpec:
        s = self.spec
        # signed: narrow so that the grid ends exactly at -alpha and +alpha
        return QuantSpec(bits=s.bits, symmetric=True, signed=s.signed, narrow_range=s.signed)

    def set_mode(self, mode: str) -> None:
        if mode == "track":
            mode = "frozen"
        super().set_mode(mode)

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.abs().clamp(min=MIN_SCALE)
        lower = -alpha if self.spec.signed else torch.zeros_like(alpha)
        clipped = torch.minimum(torch.maximum(x, lower), alpha)
        self._sync()
        s = self.grid_spec()
        return torch.fake_quantize_per_tensor_affine(clipped, self.scale, self.zero_point, s.qmin, s.qmax)


QUANTIZERS: Registry[type[FakeQuantize]] = Registry("quantizer")
QUANTIZERS.add("ste", FakeQuantize)
QUANTIZERS.add("lsq", LSQFakeQuantize)
QUANTIZERS.add("pact", PACTFakeQuantize)
