"""The converter's integer (int8) side: engine/QUANTIZED.md is the contract it writes to.

- ``contrib``: the ONNX Runtime ``com.microsoft`` quantized ops the converter reads (their arity/attributes)
  and the dynamic-quantization ops it refuses;
- ``qoperator``: QOperator models (QLinearConv, QGemm, QLinearAdd, ...) lowered to the QDQ form
  (DequantizeLinear -> float op -> QuantizeLinear) before onnx.checker and shape inference, so that one
  folding pass serves both formats;
- ``precisions``: before the opset conversion, 4-bit weights widened to 8 bits and 16-bit / float8 / blocked
  quantization refused;
- ``params``: every QuantizeLinear/DequantizeLinear's scale and zero point checked and normalized on the IR
  (int8 activations become uint8 with the zero point moved by +128);
- ``tables``: the 256-entry lookup tables of table-driven activations;
- ``report``: per node, the precision it runs in and why.

The folding itself is the ``qdq_folding`` pass (``export/passes/qdq_folding.py``).
"""

from __future__ import annotations

QUANTIZATION_KIND = "quantization"  # ModelFormatError.kind of every refusal made here

__all__ = ["QUANTIZATION_KIND"]
