"""Simplify chains of layout ops: Transpose∘Transpose, Reshape∘Reshape, and no-op reshapes.

A Transpose pair composes into one permutation (removed when it is the
identity); a Reshape of a Reshape only needs the last target shape; a
Reshape/Flatten/Squeeze/Unsqueeze whose output shape equals its input shape is removed.
"""

from __future__ import annotations

import numpy as np

from export.ir import Dim, Graph, Node
from export.passes.base import PassResult, register_pass
from export.symbolic_shape import DimOf, shape_vector

_SHAPE_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def _same_shape(a: list[Dim] | None, b: list[Dim] | None) -> bool:
    # a symbolic dim only matches the same symbol; unknown (None) never matches
    return a is not None and b is not None and len(a) == len(b) and all(
        x is not None and x == y for x, y in zip(a, b)
    )


def _keeps_shape(graph: Graph, node: Node) -> bool:
    """A constant-target Reshape that reproduces the input shape (0 = copy, at most one -1)."""
    shape, target = graph.values[node.inputs[0]].shape, graph.const(node.inputs[1])
    if shape is None or target is None or len(shape) != target.size or node.attrs.get("allowzero", 0):
        return False
    unmatched = 0
    for dim, t in zip(shape, target.reshape(-1).tolist()):
        if t == 0 or (isinstance(dim, int) and t == dim):
            continue
        if t == -1:
            unmatched += 1
            continue
        return False
    # one -1 with every other dim kept: the -1 dim can only be the input's own dim
    return unmatched <= 1


def _compose_transposes(graph: Graph, node: Node, first: Node, result: PassResult) -> bool:
    rank = len(graph.values[first.inputs[0]].shape or [])
    p1 = [int(p) for p in first.attr("perm", list(range(rank))[::-1])]
    p2 = [int(p) for p in node.attr("perm", list(range(len(p1)))[::-1])]
    if not p1 or len(p1) != len(p2):
        return False
    node.attrs["perm"] = [p1[p] for p in p2]
    node.inputs[0] = first.inputs[0]
    result.changes["composed Transpose pairs"] += 1
    return True


def _is_identity_transpose(graph: Graph, node: Node) -> bool:
    perm = node.attr("perm")
    if perm is None:  # default perm reverses the dims: identity only for rank <= 1
        shape = graph.values[node.inputs[0]].shape
        return shape is not None and len(shape) <= 1
    return list(perm) == list(range(len(perm)))


def _reshape_of_reshape(graph: Graph, node: Node, first: Node) -> bool:
    target = graph.const(node.inputs[1])
    # a 0 in the target copies a dim of the *intermediate* shape: only safe to skip it without zeros
    if target is None or (not node.attr("allowzero", 0) and (target == 0).any()):
        return False
    node.inputs[0] = first.inputs[0]
    return True


def _same_dim(graph: Graph, e: DimOf, value: str, pos: int, shape: list[Dim] | None) -> bool:
    """Whether dim ``e`` is provably dim ``pos`` of ``value``: the same dim of the same tensor,
    or a dim carrying the same symbol (shape inference gives equal dims equal names)."""
    if e.value == value and e.index == pos:
        return True
    if shape is None or pos >= len(shape):
        return False
    src = graph.values[e.value].shape
    symbol = src[e.index] if src is not None and e.index < len(src) else None
    return isinstance(symbol, str) and symbol == shape[pos]


def _copy_dims_target(graph: Graph, node: Node, producers: dict[str, Node]) -> np.ndarray | None:
    """A constant target for a Reshape whose target is computed from the input's own dims.

    ``Reshape(x, Concat(Shape(x)[0], [-1]))`` is ``Reshape(x, [0, -1])``: ONNX's 0
    copies the input dim at the same position, which removes the Shape chain
    without fixing the (dynamic) batch size.
    """
    if node.attrs.get("allowzero", 0) or graph.const(node.inputs[1]) is not None:
        return None
    elements = shape_vector(graph, node.inputs[1], producers)
    if elements is None:
        return None
    in_shape = graph.values[node.inputs[0]].shape
    target = []
    for pos, e in enumerate(elements):
        if isinstance(e, DimOf):
            if not _same_dim(graph, e, node.inputs[0], pos, in_shape):
                return None
            target.append(0)
        elif e == 0:
            return None  # a literal 0 would now mean "copy", which it did not before
        else:
            target.append(e)
    return np.asarray(target, dtype=np.int64)


@register_pass("reshape_simplification")
def run(graph: Graph) -> PassResult:
    result = PassResult("reshape_simplification")
    changed = True
    while changed:
        changed = False
        producers = graph.producers()
        for node in graph.nodes:
            first = producers.get(node.inputs[0]) if node.inputs else None
            if node.op_type == "Transpose" and first is not None and first.op_type == "Transpose":
                changed = _compose_transposes(graph, node, first, result)
            elif node.op_type == "Reshape" and first is not None and first.op_type == "Reshape":
                changed = _reshape_of_reshape(graph, node, first)
                result.changes["merged Reshape pairs"] += int(changed)
            if not changed and node.op_type == "Reshape" and len(node.inputs) > 1:
                target = _copy_dims_target(graph, node, producers)
                if target is not None:
                    node.inputs[1] = graph.add_const(f"{node.name}_shape", target)
                    result.changes["constant Reshape targets"] += 1
                    changed = True
            if changed:
                break
            noop = (node.op_type == "Transpose" and _is_identity_transpose(graph, node)) or (
                node.op_type in _SHAPE_OPS
                and _same_shape(graph.values[node.inputs[0]].shape, graph.values[node.outputs[0]].shape)
            ) or (node.op_type == "Reshape" and _keeps_shape(graph, node))
            if noop and graph.bypass(node.outputs[0], node.inputs[0]):
                graph.remove_nodes([node])
                result.changes[f"removed no-op {node.op_type}"] += 1
                changed = True
                break
    return result
