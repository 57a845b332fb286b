"""Rewrite QuantizeLinear(float initializer) -> DequantizeLinear into an integer initializer feeding
DequantizeLinear: the file then stores 8-bit (or packed 4-bit, ONNX INT4/UINT4 from opset 21) weights."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from export.qdq.symbolic import QDQParams

INT4_MIN_OPSET = 21


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _codes(w: np.ndarray, p: QDQParams) -> np.ndarray:
    scale = np.asarray(p.scale, dtype=np.float32)
    zp = np.asarray(p.zero_point, dtype=np.int64)
    if p.axis is not None:
        shape = [1] * w.ndim
        shape[p.axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    else:
        scale, zp = scale.reshape(()), zp.reshape(())
    # np.rint rounds half to even, like QuantizeLinear
    return np.clip(np.rint(w.astype(np.float32) / scale) + zp, p.qmin, p.qmax).astype(np.int64)


def _int_tensor(name: str, values: np.ndarray, p: QDQParams, packed4: bool) -> onnx.TensorProto:
    if packed4:
        dtype = TensorProto.INT4 if p.signed else TensorProto.UINT4
        return helper.make_tensor(name, dtype, list(values.shape), values.reshape(-1).tolist())
    return numpy_helper.from_array(values.astype(np.int8 if p.signed else np.uint8), name)


def integerize_weights(model: onnx.ModelProto, params: list[QDQParams], opset: int) -> tuple[int, dict[str, str]]:
    """Replace every weight Q node (in graph order, matched to ``params``) by integer initializers.

    Returns the number replaced and, per activation quantizer, the output name of its DequantizeLinear.
    """
    graph = model.graph
    q_nodes = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    if len(q_nodes) != len(params):
        raise RuntimeError(f"QDQ export: {len(q_nodes)} QuantizeLinear nodes but {len(params)} quantizers traced")
    values = _constants(graph)
    initializers = {init.name: init for init in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced, activations = 0, {}
    for node, p in zip(q_nodes, params):
        scale = values.get(node.input[1])
        if scale is None or not np.allclose(np.asarray(scale).reshape(-1), p.scale, rtol=1e-6, atol=0):
            raise RuntimeError(f"QDQ export: QuantizeLinear {node.name} does not carry the scale of '{p.name}'")
        if p.role != "weight" or node.input[0] not in initializers:
            dqs = [c for c in consumers.get(node.output[0], []) if c.op_type == "DequantizeLinear"]
            if p.role != "weight" and dqs:
                activations.setdefault(p.name, dqs[0].output[0])
            continue
        packed4 = p.bits <= 4 and opset >= INT4_MIN_OPSET
        codes = _codes(values[node.input[0]], p)
        base = node.input[0]
        q_init = _int_tensor(f"{base}.q{p.bits}", codes, p, packed4)
        zp_vals = np.asarray(p.zero_point if p.axis is not None else p.zero_point[0], dtype=np.int64)
        # all-zero zero points are dropped later, by export.qdq.compact
        zp_init = _int_tensor(f"{base}.zero_point", zp_vals, p, packed4)
        graph.initializer.extend([q_init, zp_init])
        for dq in consumers.get(node.output[0], []):
            if dq.op_type != "DequantizeLinear":
                raise RuntimeError(f"QDQ export: QuantizeLinear {node.name} feeds {dq.op_type}, not DequantizeLinear")
            dq.input[0] = q_init.name
            dq.input[2] = zp_init.name
        graph.node.remove(node)
        replaced += 1
    # drop float weights and constants nobody reads any more
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    for node in list(graph.node):
        if node.op_type == "Constant" and node.output[0] not in used:
            graph.node.remove(node)
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)
    return replaced, activations
