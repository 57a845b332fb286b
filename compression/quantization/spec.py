"""Quantizer specification: what integer grid a tensor is mapped onto.

Rounding is round-half-to-even everywhere: ``torch.fake_quantize_*`` rounds with
``nearbyint`` and ONNX ``QuantizeLinear`` specifies half-to-even, so the simulated
model, ONNX Runtime and the engine's int8 arithmetic agree on ties.

The integer computation the simulation describes (and an integer runtime performs) for a
layer with quantized input ``x`` (step ``s_x``, zero point ``z_x``) and weight ``w`` (step
``s_w``, per tensor or per output channel, zero point 0):

* bias: int32 codes ``b_q = rint(b / (s_x * s_w))``, zero point 0 (``quantize_bias``);
* accumulator: ``acc = sum((q_x - z_x) * q_w) + b_q`` in int32, exact;
* requantization onto the consumer's grid (``s_y``, ``z_y``):
  ``q_y = clamp(rint(acc * (s_x * s_w / s_y)) + z_y)``, the multiplier in float32 and
  ``rint`` half-to-even (ONNX Runtime's MLAS requantization).

At inference (no autograd) the simulation computes the same exact ``acc`` on the integer codes
(``QuantizedLayer._integer_forward``) but requantizes as ``rint((acc * (s_x * s_w)) / s_y)``: the
consumer's quantizer does not know its producer, so it cannot use the runtime's fused multiplier.
The two float32 orders differ by an ulp or two, which changes ``rint`` only next to a tie: about
1e-6 of a layer's outputs, by one step (summing float products instead of integer codes, as a
training forward does, raised that to about 1e-5). That residual is inherent to simulating in
float; a network that amplifies a one-step change (measured: briefly trained MobileNetV2 on
Fashion-MNIST) can still flip about 1 in 100-200 predictions. A Relu or a Clip between the layer and the consumer's
quantizer is what an integer runtime folds into the requantization clamp (exact when the
grid starts at the Relu's zero, i.e. ``z_y`` is the lowest code).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ROUNDING = "half_to_even"
MIN_BITS, MAX_BITS = 2, 8
# below this a scale is treated as a dead (all-zero) tensor; ONNX requires scale > 0
MIN_SCALE = 1e-8


class QuantSpecError(ValueError):
    """A quantizer specification that cannot be realised."""


@dataclass(frozen=True)
class QuantSpec:
    """An integer grid: ``bits`` wide, symmetric or affine, signed or unsigned, per tensor or per channel.

    ``narrow_range`` drops the most negative level (int8: [-127, 127]) so that a
    symmetric grid is exactly symmetric. The channel axis is not part of the spec:
    it follows from the layer type (see ``modules.WEIGHT_LAYERS``).
    """

    bits: int = 8
    symmetric: bool = False
    signed: bool = False
    per_channel: bool = False
    narrow_range: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not MIN_BITS <= self.bits <= MAX_BITS:
            raise QuantSpecError(f"bit width must be an integer in [{MIN_BITS}, {MAX_BITS}], got {self.bits!r}")

    @property
    def qmin(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + int(self.narrow_range)

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    @property
    def levels(self) -> int:
        return self.qmax - self.qmin + 1


def compute_qparams(spec: QuantSpec, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale float32, zero_point int32) covering [lo, hi] (tensors of equal shape: one value per channel)."""
    lo = torch.minimum(lo.float(), torch.zeros_like(lo, dtype=torch.float32))  # 0 must be exact (padding, ReLU)
    hi = torch.maximum(hi.float(), torch.zeros_like(hi, dtype=torch.float32))
    if spec.symmetric:
        amax = torch.maximum(-lo, hi)
        # +amax maps to qmax (127, not 128, on a signed grid) so it stays representable
        scale = (amax / float(spec.qmax)).clamp(min=MIN_SCALE)
        zp = torch.zeros_like(scale, dtype=torch.int32)
        return scale, zp
    scale = ((hi - lo) / float(spec.qmax - spec.qmin)).clamp(min=MIN_SCALE)
    zp = (spec.qmin - torch.round(lo / scale)).clamp(spec.qmin, spec.qmax).to(torch.int32)
    return scale, zp


def quantize(
    x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor, spec: QuantSpec, axis: int | None = None
) -> torch.Tensor:
    """Integer codes (as int32) of ``x``: ``clamp(round_half_even(x / scale) + zp)``."""
    if axis is not None:
        shape = [1] * x.dim()
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (torch.round(x / scale) + zp).clamp(spec.qmin, spec.qmax).to(torch.int32)


# a bias is an int32 initializer: codes beyond this range cannot be stored
BIAS_QMIN, BIAS_QMAX = -(2**31), 2**31 - 1


def quantize_bias(bias: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Int32 codes (as int64, exact) of ``bias`` on the grid of ``step`` (``input step * weight step``,
    zero point 0), rounded half-to-even like the runtime's own bias quantization."""
    codes = torch.round(bias.double() / step.double().clamp(min=MIN_SCALE**2))
    return codes.clamp(BIAS_QMIN, BIAS_QMAX).to(torch.int64)


def dequantize(q: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor, axis: int | None = None) -> torch.Tensor:
    if axis is not None:
        shape = [1] * q.dim()
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (q - zp).float() * scale


def sqnr_db(reference: torch.Tensor, approx: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB (inf when exact)."""
    noise = (reference.double() - approx.double()).pow(2).sum()
    signal = reference.double().pow(2).sum()
    if noise == 0:
        return float("inf")
    return float(10 * torch.log10(signal / noise.clamp(min=1e-300)))
