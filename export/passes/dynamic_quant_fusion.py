"""Fold ONNX Runtime's dynamically quantized MatMul into one engine node.

``onnxruntime.quantization.quantize_dynamic`` writes every quantized MatMul as
``DynamicQuantizeLinear(x) -> MatMulInteger(x_q, W_q, x_zp, w_zp) -> Cast(float) ->
Mul(., Mul(x_scale, w_scale)) [-> Add(., bias)]``. Run as written, the activation makes
three trips through memory (u8 codes, int32 sums, floats) and the weights are re-packed for
the kernel on every run. ``DynamicQuantMatMul(x, W (int8), w_scale, w_zp, bias)`` (engine
op, engine/src/ops/dynamic_quant.cpp) quantizes x with DynamicQuantizeLinear's formula, runs
the u8 x s8 GEMM over weights packed once at load, and applies the same fp32 steps (Cast,
Mul by x_scale * w_scale[n], Add) in its epilogue. A uint8 weight is moved to int8 codes with
its zero point (``w - 128``, ``w_zp - 128``: every difference, so every sum, is unchanged).

Anything that does not match exactly (a MatMulInteger whose zero point is not the
DynamicQuantizeLinear's, a non-constant weight, a second reader of an inner value) stays
as it is and runs through the engine's plain MatMulInteger / DynamicQuantizeLinear.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass

FUSED = "DynamicQuantMatMul"


def _only_reader(graph: Graph, consumers: dict[str, list[Node]], value: str, op_type: str) -> Node | None:
    readers = consumers.get(value, [])
    if len(readers) != 1 or value in graph.outputs or readers[0].op_type != op_type or readers[0].domain:
        return None
    return readers[0]


def _per_column(a: np.ndarray | None, n: int) -> bool:
    return a is not None and a.ndim <= 1 and a.size in (1, n)


def _scale_of(graph: Graph, producers: dict[str, Node], scale_product: str, x_scale: str, n: int) -> str | None:
    """The constant w_scale when ``scale_product`` is ``Mul(x_scale, w_scale)`` (either order)."""
    mul = producers.get(scale_product)
    if mul is None or mul.op_type != "Mul" or mul.domain or len(mul.inputs) != 2:
        return None
    for i in (0, 1):
        w_scale = graph.const(mul.inputs[1 - i])
        if mul.inputs[i] == x_scale and w_scale is not None and w_scale.dtype == np.float32 and _per_column(
                w_scale, n):
            return mul.inputs[1 - i]
    return None


def _match(graph: Graph, mmi: Node, producers: dict[str, Node],
           consumers: dict[str, list[Node]]) -> tuple[list[Node], list[str], str] | None:
    """(nodes replaced, fused inputs, fused output) for one MatMulInteger, or None."""
    if mmi.op_type != "MatMulInteger" or mmi.domain or len(mmi.inputs) < 3:
        return None
    dql = producers.get(mmi.inputs[0])
    if dql is None or dql.op_type != "DynamicQuantizeLinear" or dql.domain or len(dql.outputs) != 3:
        return None
    x_q, x_scale, x_zp = dql.outputs
    if mmi.inputs[0] != x_q or mmi.inputs[2] != x_zp or not x_scale:
        return None
    w = graph.const(mmi.inputs[1])
    if w is None or w.ndim != 2 or w.dtype not in (np.int8, np.uint8) or w.shape[0] == 0:
        return None
    n = w.shape[1]
    w_zp = graph.const(mmi.inputs[3]) if len(mmi.inputs) > 3 and mmi.inputs[3] else np.zeros((), w.dtype)
    if w_zp is None or w_zp.dtype != w.dtype or not _per_column(w_zp, n):
        return None
    cast = _only_reader(graph, consumers, mmi.outputs[0], "Cast")
    if cast is None or cast.attr("to") != TensorProto.FLOAT:
        return None
    mul = _only_reader(graph, consumers, cast.outputs[0], "Mul")
    if mul is None or len(mul.inputs) != 2:
        return None
    other = mul.inputs[1] if mul.inputs[0] == cast.outputs[0] else mul.inputs[0]
    w_scale = _scale_of(graph, producers, other, x_scale, n)
    if w_scale is None:
        return None
    nodes, bias, out = [mmi, cast, mul], "", mul.outputs[0]
    add = _only_reader(graph, consumers, mul.outputs[0], "Add")
    if add is not None and len(add.inputs) == 2:
        b_name = add.inputs[1] if add.inputs[0] == mul.outputs[0] else add.inputs[0]
        b = graph.const(b_name)
        if b is not None and b.dtype == np.float32 and b.ndim == 1 and b.size == n:
            nodes.append(add)
            bias, out = b_name, add.outputs[0]
    if w.dtype == np.uint8:  # int8 codes with the zero point moved along (QUANTIZED.md)
        w8 = (w.astype(np.int16) - 128).astype(np.int8)
        zp8 = (w_zp.astype(np.int16) - 128).astype(np.int8)
    else:
        w8, zp8 = w, w_zp
    w_name = mmi.inputs[1] if w.dtype == np.int8 else graph.add_const(f"{mmi.inputs[1]}_s8", w8)
    zp_name = "" if not zp8.any() else graph.add_const(f"{mmi.inputs[1]}_zp_s8", zp8.reshape(-1))
    return nodes, [dql.inputs[0], w_name, w_scale, zp_name, bias], out


@register_pass("dynamic_quant_fusion")
def run(graph: Graph) -> PassResult:
    result = PassResult("dynamic_quant_fusion")
    producers, consumers = graph.producers(), graph.consumers()
    used: set[int] = set()
    for node in list(graph.nodes):
        found = _match(graph, node, producers, consumers)
        if found is None:
            continue
        nodes, inputs, out = found
        if any(id(n) in used for n in nodes):
            continue
        while inputs and not inputs[-1]:
            inputs.pop()
        fused = Node(FUSED, graph.fresh_name(f"{node.name}_dynamic"), inputs, [out])
        graph.nodes[graph.nodes.index(nodes[-1])] = fused
        graph.remove_nodes(nodes[:-1])
        used.update(id(n) for n in nodes)
        result.changes["DynamicQuantizeLinear+MatMulInteger+Cast+Mul(+Add) -> DynamicQuantMatMul"] += 1
    return result
