"""Re-run ONNX shape inference on the IR after passes have made more values constant.

Folding a Reshape target into a constant lets inference name dims it could only
call ``unk__N`` before, and those dims feed later folds (a channel-shuffle's
``Shape -> Gather -> Div`` on the *next* Reshape, for instance). Engine-only
constructs are replaced by shape-equivalent plain ONNX for the inference run
only; the IR itself is not changed except for its value shapes/dtypes.
"""

from __future__ import annotations

import onnx
from onnx import helper, numpy_helper

from export.ir import Dim, Graph, Value, dims_of, node_reads, onnx_attr_value

# constants above this many elements are declared by type only: inference needs the values of
# shape-like constants, never of weights, and copying weights would cost memory for nothing
_MAX_INLINE = 4096
_GENERATED = "unk__"
_SHAPE_PRESERVING_ENGINE_OPS = ("SiLU", "Gelu")


def _portable(shape: list[Dim] | None) -> list[Dim] | None:
    # generated symbols are only meaningful within the inference run that made them
    if shape is None:
        return None
    return [None if isinstance(d, str) and d.startswith(_GENERATED) else d for d in shape]


def _info(v: Value, shape: list[Dim] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(v.name, v.dtype, shape)


def _inference_model(graph: Graph) -> onnx.ModelProto:
    nodes = []
    for n in graph.nodes:
        if n.op_type in _SHAPE_PRESERVING_ENGINE_OPS:
            nodes.append(helper.make_node("Identity", n.inputs[:1], n.outputs[:1], name=n.name))
            continue
        if n.op_type == "MatMulSoftmaxMatMul":  # the softmax keeps the scores' shape
            scores = f"{n.outputs[0]}__scores"
            nodes.append(helper.make_node("MatMul", n.inputs[:2], [scores], name=f"{n.name}__first"))
            nodes.append(helper.make_node("MatMul", [scores, n.inputs[2]], n.outputs[:1], name=n.name))
            continue
        if n.op_type == "DynamicQuantMatMul":  # x [..., K] times the int8 weight [K, N]: MatMul's shape
            weight = f"{n.outputs[0]}__weight"
            nodes.append(helper.make_node("Cast", [n.inputs[1]], [weight], name=f"{n.name}__cast", to=1))
            nodes.append(helper.make_node("MatMul", [n.inputs[0], weight], n.outputs[:1], name=n.name))
            continue
        attrs = {k: onnx_attr_value(v) for k, v in n.attrs.items() if k not in ("activation", "activation_params")}
        inputs = n.inputs[:3] if n.op_type == "Conv" else n.inputs  # Conv's input 3: the engine's channel scale
        nodes.append(helper.make_node(n.op_type, inputs, n.outputs, name=n.name, domain=n.domain or None,
                                      **attrs))
    used = {i for n in graph.nodes for i in node_reads(n)}
    consts = [graph.values[k] for k in sorted(used) if graph.values[k].is_const]
    inline = [v for v in consts if v.const.size <= _MAX_INLINE]
    by_type = [_info(v, list(v.const.shape)) for v in consts if v.const.size > _MAX_INLINE]
    g = helper.make_graph(
        nodes,
        "shape_refresh",
        [_info(graph.values[i], graph.values[i].shape) for i in graph.inputs] + by_type,
        [_info(graph.values[o], _portable(graph.values[o].shape)) for o in graph.outputs],
        initializer=[numpy_helper.from_array(v.const, v.name) for v in inline],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", graph.opset or 17)])
    model.ir_version = min(model.ir_version, 9)
    return model


def refresh_shapes(graph: Graph) -> int:
    """Update value shapes from a fresh inference run; returns how many became more specific.

    A value the fresh run cannot type keeps its shape with generated symbols
    turned into unknown dims, so that symbols from two runs never get compared.
    """
    try:
        inferred = onnx.shape_inference.infer_shapes(_inference_model(graph), data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError):
        return 0
    fresh = {vi.name: vi.type.tensor_type for vi in [*inferred.graph.value_info, *inferred.graph.output]}
    improved = 0
    for v in graph.values.values():
        if v.is_const or v.name in graph.inputs:
            continue
        t = fresh.get(v.name)
        dims = dims_of(t) if t is not None else None
        if dims is None:
            v.shape = _portable(v.shape)
            continue
        if _known(dims) > _known(v.shape):
            improved += 1
        v.shape = dims
        if not v.dtype and t.elem_type:
            v.dtype = int(t.elem_type)
    return improved


def _known(shape: list[Dim] | None) -> int:
    return -1 if shape is None else sum(isinstance(d, int) for d in shape)
