"""Read a 1-D shape vector symbolically: each element is a known int or "dim i of value v".

Used to see through ``Shape -> Gather -> Unsqueeze -> Concat`` chains that end in
a Reshape target on a dynamic-batch model, where constant folding must stop at
the batch dim. Only the handful of ops such chains are made of are understood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.ir import Graph, Node


@dataclass(frozen=True)
class DimOf:
    """Dim ``index`` of value ``value`` (not known statically)."""

    value: str
    index: int


Element = int | DimOf


def shape_vector(graph: Graph, name: str, producers: dict[str, Node], depth: int = 8) -> list[Element] | None:
    """The elements of the int64 vector (or scalar) ``name``, or None when not expressible."""
    const = graph.const(name)
    if const is not None:
        if const.ndim > 1 or not np.issubdtype(const.dtype, np.integer):
            return None
        return [int(v) for v in const.reshape(-1)]
    node = producers.get(name)
    if node is None or depth == 0:
        return None
    if node.op_type == "Shape":
        shape = graph.values[node.inputs[0]].shape
        if shape is None:
            return None
        start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")
        idx = list(range(len(shape)))[start : None if end is None else int(end)]
        return [shape[i] if isinstance(shape[i], int) else DimOf(node.inputs[0], i) for i in idx]
    parts = [shape_vector(graph, i, producers, depth - 1) if i else None for i in node.inputs]
    if node.op_type == "Concat" and all(p is not None for p in parts):
        return [e for p in parts for e in p]  # type: ignore[union-attr]
    if node.op_type in ("Unsqueeze", "Squeeze", "Identity", "Cast") and parts and parts[0] is not None:
        # on a scalar/1-element vector these only change the rank, not the element
        return parts[0] if len(parts[0]) == 1 or node.op_type in ("Identity", "Cast") else None
    if node.op_type == "Gather" and parts[0] is not None and int(node.attrs.get("axis", 0)) == 0:
        indices = graph.const(node.inputs[1])
        if indices is None or indices.ndim > 1:
            return None
        n = len(parts[0])
        return [parts[0][int(i) % n] for i in indices.reshape(-1)]
    return None
