"""The ``com.microsoft`` (ONNX Runtime contrib) quantized ops the converter reads, and the ones it refuses.

onnx has no schemas for these, so ``export.validate`` checks their arity and attributes against this table
(what ONNX Runtime's contrib op definitions declare) before ``export.quantized.qoperator`` lowers them to
standard QDQ ops. Any other op of the domain is refused as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from onnx import AttributeProto

MS_DOMAIN = "com.microsoft"
_I, _F, _S, _INTS = AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING, AttributeProto.INTS


@dataclass(frozen=True)
class ContribOp:
    min_inputs: int
    max_inputs: int | None  # None: variadic
    attributes: dict[str, int] = field(default_factory=dict)  # name -> AttributeProto type
    required: tuple[str, ...] = ()
    optional_inputs: tuple[int, ...] = ()  # positions that may be empty ("")


_POOL = {"auto_pad": _S, "ceil_mode": _I, "channels_last": _I, "count_include_pad": _I, "kernel_shape": _INTS,
         "pads": _INTS, "strides": _INTS}

CONTRIB_OPS: dict[str, ContribOp] = {
    "QLinearAdd": ContribOp(7, 8, optional_inputs=(2, 5, 7)),
    "QLinearMul": ContribOp(7, 8, optional_inputs=(2, 5, 7)),
    "QLinearGlobalAveragePool": ContribOp(5, 5, {"channels_last": _I}, optional_inputs=(2, 4)),
    "QLinearAveragePool": ContribOp(4, 5, _POOL, ("kernel_shape",), optional_inputs=(2, 4)),
    "QGemm": ContribOp(6, 9, {"alpha": _F, "transA": _I, "transB": _I}, optional_inputs=(2, 5, 6, 7, 8)),
    "QLinearConcat": ContribOp(5, None, {"axis": _I}, ("axis",)),
    "QLinearSigmoid": ContribOp(4, 5, optional_inputs=(2, 4)),
    "QLinearLeakyRelu": ContribOp(4, 5, {"alpha": _F}, optional_inputs=(2, 4)),
    # dynamic quantization as ONNX Runtime's graph optimizer fuses it (a model saved after ORT's extended
    # optimizations): lowered to the DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul [-> Add] chain
    "DynamicQuantizeMatMul": ContribOp(3, 5, optional_inputs=(3, 4)),
    "MatMulIntegerToFloat": ContribOp(4, 7, optional_inputs=(4, 5, 6)),
}

# dynamic quantization that does not run: ONNX's DynamicQuantizeLinear / MatMulInteger / ConvInteger (what
# onnxruntime.quantization.quantize_dynamic writes for MatMul and Conv) are engine ops and the usual MatMul chain
# fuses (export/passes/dynamic_quant_fusion.py), ORT's fused DynamicQuantizeMatMul / MatMulIntegerToFloat are
# lowered to that chain (export/quantized/qoperator.py); these com.microsoft forms have no engine counterpart yet
DYNAMIC_OPS = frozenset({"DynamicQuantizeLSTM", "QAttention", "DynamicQuantizeConv"})


def dynamic_refusal(op_type: str) -> str:
    return (f"{op_type} is com.microsoft dynamic quantization, which the engine does not run (it runs ONNX's "
            "DynamicQuantizeLinear, MatMulInteger, ConvInteger, DynamicQuantizeMatMul and MatMulIntegerToFloat): "
            "quantize with onnxruntime.quantization.quantize_dynamic leaving out the op types that produce it "
            "(op_types_to_quantize without LSTM / Attention), or statically (quantize_static)")


def check_node(op_type: str, inputs: list[str], attributes: dict[str, int]) -> str | None:
    """What is wrong with a contrib node's inputs/attributes (name -> AttributeProto type), or None."""
    spec = CONTRIB_OPS[op_type]
    n = len(inputs)
    if n < spec.min_inputs or (spec.max_inputs is not None and n > spec.max_inputs):
        want = f"{spec.min_inputs}" + ("" if spec.max_inputs == spec.min_inputs else
                                       f" to {spec.max_inputs}" if spec.max_inputs else " or more")
        return f"has {n} inputs; {MS_DOMAIN} {op_type} takes {want}"
    if op_type == "QLinearConcat" and (n - 2) % 3:
        return f"has {n} inputs; QLinearConcat takes Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) triples"
    for k, name in enumerate(inputs):
        if not name and k not in spec.optional_inputs:
            return f"input #{k} is required but empty"
    for name, kind in attributes.items():
        if name not in spec.attributes:
            return f"attribute '{name}' is not an attribute of {MS_DOMAIN} {op_type}"
        if kind != spec.attributes[name]:
            return (f"attribute '{name}' has type {AttributeProto.AttributeType.Name(kind)}, {op_type} expects "
                    f"{AttributeProto.AttributeType.Name(spec.attributes[name])}")
    missing = [r for r in spec.required if r not in attributes]
    if missing:
        return f"lacks required attribute '{missing[0]}'"
    return None
