"""The export-time form of an integer bias: an autograd Function whose ONNX symbolic is the bias's
dequantized value, ``codes * (input step * weight step)``, as a float constant.

Stored this way (rather than as int32 codes read through DequantizeLinear) the file needs no per-channel
bias scales, and ONNX Runtime still computes exactly what the fake-quantized model does
(``compression.quantization.modules.QuantizedLayer.integer_bias``): where it fuses a QDQ group into
QLinearConv it quantizes the float bias with ``rint(bias / (s_x * s_w))``, which returns the same codes
(exact for |codes| < 2**22), and a layer it leaves in float adds the same float value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class DequantizedBias:
    """The float32 value of one integer bias; an array, not a tensor, so that the tracer records a constant
    rather than the ops that computed it."""

    value: np.ndarray


class IntegerBias(torch.autograd.Function):
    @staticmethod
    def forward(ctx, bias: torch.Tensor, held: DequantizedBias) -> torch.Tensor:  # noqa: ANN001, D102
        return torch.from_numpy(held.value).to(bias.dtype)

    @staticmethod
    def symbolic(g, bias, held: DequantizedBias):  # noqa: ANN001, D102
        return g.op("Constant", value_t=torch.from_numpy(held.value))


def export_integer_bias(bias: torch.Tensor, codes: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """The hook ``QuantizedLayer.bias_export_hook`` takes during a QDQ export."""
    # the same float32 product the fake-quantized model adds
    value = (codes.detach().float() * step.detach().float()).cpu().numpy().astype(np.float32)
    return IntegerBias.apply(bias, DequantizedBias(value))
