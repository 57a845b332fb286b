"""Constant folding: evaluate offline every node whose result does not depend on the inputs.

Besides nodes whose inputs are all constants, two shape-specific cases fold:
``Shape`` of a value whose shape is fully static, and ``Gather``/``Slice`` of a
``Shape`` that only pick static dims. A dynamic dim (the batch) is never turned
into a constant, so a dynamic-batch model stays dynamic.
"""

from __future__ import annotations

import numpy as np

from export import const_eval
from export.errors import ModelFormatError, node_label
from export.ir import Graph, Node, dtype_of_numpy, numpy_of_dtype
from export.passes.base import PassResult, register_pass


def _fold_inputs(graph: Graph, node: Node) -> list[np.ndarray | None] | None:
    arrays: list[np.ndarray | None] = []
    for name in node.inputs:
        if not name:
            arrays.append(None)
            continue
        arr = graph.const(name)
        if arr is None:
            return None
        arrays.append(arr)
    return arrays


def _shape_dims(graph: Graph, node: Node) -> list | None:
    """The dims a Shape node reports (ints or symbols), or None when the rank is unknown."""
    value = graph.values.get(node.inputs[0])
    if value is None or value.shape is None:
        return None
    dims = list(value.shape)
    return dims[const_eval.shape_slice(node.attrs)]


def _static_shape_result(graph: Graph, node: Node, producers: dict[str, Node]) -> np.ndarray | None:
    """Shape, or Gather/Slice of a Shape, whose selected dims are all static."""
    if node.op_type == "Shape":
        dims = _shape_dims(graph, node)
        if dims is not None and all(isinstance(d, int) for d in dims):
            return np.asarray(dims, dtype=np.int64)
        return None
    if node.op_type not in ("Gather", "Slice") or not node.inputs:
        return None
    shape_node = producers.get(node.inputs[0])
    if shape_node is None or shape_node.op_type != "Shape":
        return None
    dims = _shape_dims(graph, shape_node)
    rest = [graph.const(i) if i else None for i in node.inputs[1:]]
    if dims is None or any(r is None and i for r, i in zip(rest, node.inputs[1:])):
        return None
    # evaluate on dim positions, then check that every picked position is a static dim
    positions = np.arange(len(dims), dtype=np.int64)
    picked = _evaluate(graph, node, [positions, *rest])[0]
    chosen = [dims[int(p)] for p in np.atleast_1d(picked)]
    if not all(isinstance(d, int) for d in chosen):
        return None
    return np.asarray(chosen, dtype=np.int64).reshape(picked.shape)


# what NumPy raises on inputs that do not fit an op's semantics (shapes that do not broadcast, an index out of
# range, a negative dim, a zero Range step): all of them are the graph's fault, not ours
_EVAL_ERRORS = (ValueError, IndexError, TypeError, KeyError, ZeroDivisionError, OverflowError)


def _evaluate(graph: Graph, node: Node, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
    """Evaluate a node on constants, refusing (as bad input) what cannot be computed or is too large."""
    where = node_label(node.name, node.op_type)
    try:
        elements = const_eval.result_elements(node.op_type, inputs, node.attrs)
    except _EVAL_ERRORS as exc:
        raise ModelFormatError(f"cannot be evaluated on its constant inputs: {exc}", kind="constant-eval",
                               where=where) from exc
    # the result's dtype is one of its inputs' (or, for Cast/ConstantOfShape, at most 8 bytes wide)
    itemsize = max([a.dtype.itemsize for a in inputs if a is not None] +
                   [8 if node.op_type in ("Cast", "ConstantOfShape") else 1])
    if elements * itemsize > graph.max_const_bytes:
        raise ModelFormatError(f"would fold into a constant of {elements} elements ({elements * itemsize} bytes), "
                               f"above the limit of {graph.max_const_bytes} bytes (Limits.max_tensor_bytes)",
                               kind="tensor-limit", where=where)
    try:
        with np.errstate(all="ignore"):  # integer division by zero, NaN casts: ONNX leaves them undefined
            return const_eval.evaluate(node.op_type, inputs, node.attrs)
    except _EVAL_ERRORS as exc:
        raise ModelFormatError(f"cannot be evaluated on its constant inputs: {exc}", kind="constant-eval",
                               where=where) from exc


@register_pass("constant_folding")
def run(graph: Graph) -> PassResult:
    result = PassResult("constant_folding")
    producers = graph.producers()
    folded: list[Node] = []
    for node in graph.nodes:
        if node.domain not in ("", "ai.onnx") or any(o in graph.outputs for o in node.outputs):
            # a graph output must stay produced by a node (engine file rule)
            continue
        outputs = None
        special = _static_shape_result(graph, node, producers)
        if special is not None:
            outputs = [special]
            result.changes[f"static {node.op_type}"] += 1
        elif const_eval.evaluable(node.op_type):
            inputs = _fold_inputs(graph, node)
            if inputs is None:
                continue
            outputs = _evaluate(graph, node, inputs)
            result.changes["folded nodes"] += 1
        if outputs is None:
            continue
        for name, arr in zip(node.outputs, outputs):
            value = graph.values[name]
            arr = np.asarray(arr)
            if value.dtype:
                arr = arr.astype(numpy_of_dtype(value.dtype), copy=False)
            value.dtype = dtype_of_numpy(arr.dtype)
            value.const, value.shape = np.array(arr, order="C"), list(arr.shape)  # 0-d stays 0-d
        folded.append(node)
    graph.remove_nodes(folded)
    return result
