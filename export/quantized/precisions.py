"""Quantization types the engine has no kernels for, handled before the opset conversion (to opset 17).

- 4-bit weights (INT4/UINT4 initializers read by a DequantizeLinear, opset 21, e.g. ``export.qdq`` with
  ``int4=True``) are widened to int8/uint8 constants with the same codes and zero points: the same values,
  stored in 8 bits for now (the engine file could carry packed int4, the integer kernels take int8 weights).
  Opset 17 has no 4-bit types, so this must happen before the opset converter sees the model.
- 16-bit (INT16/UINT16), 4-bit activations, float8 and blocked (``block_size``) quantization are refused by
  node and field: the engine's integer kernels are 8-bit with per-tensor or per-axis scales.
- QuantizeLinear's opset-21 ``output_dtype`` attribute is replaced by an explicit zero point.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from export.errors import ModelFormatError, node_label
from export.quantized import QUANTIZATION_KIND

_DEFAULT = ("", "ai.onnx")
_EIGHT_BIT = {TensorProto.UINT8, TensorProto.INT8}
_FOUR_BIT = {TensorProto.INT4: TensorProto.INT8, TensorProto.UINT4: TensorProto.UINT8}
_NAMES = {TensorProto.INT16: "int16", TensorProto.UINT16: "uint16", TensorProto.INT4: "int4",
          TensorProto.UINT4: "uint4"}


def _type_name(code: int) -> str:
    return _NAMES.get(code) or TensorProto.DataType.Name(code).lower()


def _fail(node: onnx.NodeProto, index: int, field: str, problem: str, source: str) -> ModelFormatError:
    return ModelFormatError(f"{field}: {problem}", kind=QUANTIZATION_KIND,
                            where=node_label(node.name, node.op_type, index), source=source)


def prepare_precisions(model: onnx.ModelProto, source: str) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with 4-bit weights widened (and the count), or ModelFormatError for what is refused."""
    g = model.graph
    q_nodes = [(i, n) for i, n in enumerate(g.node) if n.domain in _DEFAULT
               and n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not q_nodes:
        return model, 0
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    g = copy.graph
    inits = {t.name: t for t in g.initializer}
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.input, *g.value_info, *g.output]}
    types.update({t.name: t.data_type for t in g.initializer})
    for n in g.node:
        if n.op_type == "Constant" and n.domain in _DEFAULT and n.attribute and n.attribute[0].name == "value":
            types[n.output[0]] = n.attribute[0].t.data_type
    widened: set[str] = set()
    weights: set[str] = set()
    for index, node in ((i, g.node[i]) for i, _ in q_nodes):
        attrs = {a.name: a for a in node.attribute}
        if "block_size" in attrs and attrs["block_size"].i:
            raise _fail(node, index, "attribute 'block_size'", f"is {attrs['block_size'].i}: blocked quantization "
                        "is not supported (scales per tensor or per axis only)", source)
        zp = node.input[2] if len(node.input) > 2 else ""
        if node.op_type == "QuantizeLinear":
            out_type = types.get(zp) if zp else None
            if "output_dtype" in attrs and attrs["output_dtype"].i:
                out_type = attrs["output_dtype"].i
                if not zp and out_type in _EIGHT_BIT:  # opset 17 says the type with an explicit zero point
                    zp_name = f"{node.output[0]}_zero_point"
                    g.initializer.append(numpy_helper.from_array(
                        np.zeros((), helper.tensor_dtype_to_np_dtype(out_type)), zp_name))
                    while len(node.input) < 3:
                        node.input.append("")
                    node.input[2] = zp_name
                    types[zp_name] = out_type
                keep = [a for a in node.attribute if a.name != "output_dtype"]
                del node.attribute[:]
                node.attribute.extend(keep)
            out_type = out_type or TensorProto.UINT8
            types[node.output[0]] = out_type
            if out_type not in _EIGHT_BIT:
                raise _fail(node, index, f"output '{node.output[0]}'", f"is {_type_name(out_type)}: the engine "
                            "quantizes activations to 8 bits (uint8/int8 codes)", source)
            continue
        x_type = types.get(node.input[0]) or (types.get(zp) if zp else None)
        if x_type in _FOUR_BIT and node.input[0] in inits:
            weights.add(node.input[0])
            for name in (node.input[0], zp):
                if name and name in inits and name not in widened and inits[name].data_type in _FOUR_BIT:
                    t = inits[name]
                    arr = numpy_helper.to_array(t).astype(np.int8 if t.data_type == TensorProto.INT4 else np.uint8)
                    t.CopyFrom(numpy_helper.from_array(arr, name))
                    types[name] = t.data_type
                    widened.add(name)
            continue
        if x_type is not None and x_type not in _EIGHT_BIT | {TensorProto.INT32}:
            what = "weight" if node.input[0] in inits else "input"
            raise _fail(node, index, f"{what} '{node.input[0]}'", f"is {_type_name(x_type)}: the engine's integer "
                        "kernels take 8-bit codes (uint8/int8, int32 for a bias)", source)
    return copy, len(weights)
