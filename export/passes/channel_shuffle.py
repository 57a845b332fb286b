"""Recognize a channel shuffle and replace it with one Gather over the channel axis.

ShuffleNet's ``x.view(N, g, C // g, H, W).transpose(1, 2).reshape(N, C, H, W)`` exports as
Reshape -> Transpose(perm = [0, 2, 1, 3, 4]) -> Reshape. It is a fixed permutation of the
channels: output channel ``c`` is input channel ``(c % g) * (C // g) + c // g``. As a rank-5
detour it makes the engine leave its NHWC layout twice per block (a conversion to plain and
back around each shuffle); ``Gather(x, perm, axis=1)`` is the same tensor in one rank-4 op
that the engine runs in NHWC, on float and on uint8 (quantized) activations alike.
"""

from __future__ import annotations

import numpy as np

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass


def shuffle_indices(channels: int, groups: int) -> np.ndarray:
    """Input channel of each output channel of a shuffle of ``channels`` in ``groups`` groups."""
    per_group = channels // groups
    out = np.arange(channels, dtype=np.int64)
    return (out % groups) * per_group + out // groups


def _match(graph: Graph, last: Node, producers: dict[str, Node], consumers: dict[str, list[Node]]) -> tuple[
        list[Node], str, int, int] | None:
    """(the three nodes, the input, channels, groups) when ``last`` ends a channel shuffle."""
    if last.op_type != "Reshape" or len(last.inputs) < 2:
        return None
    transpose = producers.get(last.inputs[0])
    if transpose is None or transpose.op_type != "Transpose" or list(transpose.attr("perm", [])) != [0, 2, 1, 3, 4]:
        return None
    first = producers.get(transpose.inputs[0])
    if first is None or first.op_type != "Reshape":
        return None
    for inner in (first.outputs[0], transpose.outputs[0]):  # absorbed values: no other reader
        if len(consumers.get(inner, [])) != 1 or inner in graph.outputs:
            return None
    x = graph.values[first.inputs[0]].shape
    split = graph.values[first.outputs[0]].shape
    y = graph.values[last.outputs[0]].shape
    if x is None or split is None or y is None or len(x) != 4 or len(split) != 5 or list(y) != list(x):
        return None
    channels, groups, per_group = x[1], split[1], split[2]
    if not all(isinstance(d, int) and d > 0 for d in (channels, groups, per_group)) or groups * per_group != channels:
        return None
    # batch and spatial dims pass through unchanged (the same symbol or number on both sides)
    if any(a is None or a != b for a, b in zip((x[0], x[2], x[3]), (split[0], split[3], split[4]))):
        return None
    return [first, transpose, last], first.inputs[0], channels, groups


@register_pass("channel_shuffle")
def run(graph: Graph) -> PassResult:
    result = PassResult("channel_shuffle")
    producers, consumers = graph.producers(), graph.consumers()
    replaced: list[Node] = []
    for node in list(graph.nodes):
        m = _match(graph, node, producers, consumers)
        if m is None or any(n in replaced for n in m[0]):
            continue
        nodes, x, channels, groups = m
        indices = graph.add_const(f"{node.name}_shuffle", shuffle_indices(channels, groups))
        gather = Node("Gather", graph.fresh_name(f"{node.name}_gather"), [x, indices], [node.outputs[0]], {"axis": 1})
        graph.nodes[graph.nodes.index(node)] = gather
        graph.remove_nodes(nodes[:2])
        replaced.extend(nodes)
        result.changes["channel shuffles -> Gather"] += 1
    return result
