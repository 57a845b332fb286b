"""Fuse the core of scaled dot-product attention into one engine node.

``MatMul(A, B) -> Softmax(axis = last) -> MatMul(., C)`` with the same batch dims on all three
operands (what ``F.scaled_dot_product_attention`` and timm's attention blocks export, the
scaling already applied to A and B) becomes ``MatMulSoftmaxMatMul(A, B, C)``. The engine then
runs it a block of query rows at a time, so the [tokens x tokens] score tensor of each head
never goes to memory (engine/src/ops/attention.cpp).
"""

from __future__ import annotations

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass

FUSED = "MatMulSoftmaxMatMul"


def _same_batch(graph: Graph, names: list[str]) -> bool:
    shapes = [graph.values[n].shape for n in names]
    if any(s is None or len(s) < 2 for s in shapes) or len({len(s) for s in shapes}) != 1:
        return False
    # every batch dim known and equal on the three operands (no broadcasting in the fused op)
    return all(d is not None and all(s[i] == d for s in shapes) for i, d in enumerate(shapes[0][:-2]))


def _match(graph: Graph, second: Node, producers: dict[str, Node], consumers: dict[str, list[Node]]) -> list[
        Node] | None:
    if second.op_type != "MatMul":
        return None
    softmax = producers.get(second.inputs[0])
    if softmax is None or softmax.op_type != "Softmax":
        return None
    first = producers.get(softmax.inputs[0])
    if first is None or first.op_type != "MatMul":
        return None
    scores = graph.values[first.outputs[0]].shape
    if scores is None or softmax.attr("axis", -1) not in (-1, len(scores) - 1):
        return None
    for inner in (first.outputs[0], softmax.outputs[0]):
        if len(consumers.get(inner, [])) != 1 or inner in graph.outputs:
            return None
    if not _same_batch(graph, [first.inputs[0], first.inputs[1], second.inputs[1]]):
        return None
    return [first, softmax, second]


@register_pass("attention_fusion")
def run(graph: Graph) -> PassResult:
    result = PassResult("attention_fusion")
    producers, consumers = graph.producers(), graph.consumers()
    used: set[int] = set()
    for node in list(graph.nodes):
        nodes = _match(graph, node, producers, consumers)
        if nodes is None or any(id(n) in used for n in nodes):
            continue
        first, _, second = nodes
        fused = Node(FUSED, graph.fresh_name(f"{second.name}_attention"),
                     [first.inputs[0], first.inputs[1], second.inputs[1]], [second.outputs[0]])
        graph.nodes[graph.nodes.index(second)] = fused
        graph.remove_nodes(nodes[:2])
        used.update(id(n) for n in nodes)
        result.changes["MatMul+Softmax+MatMul -> MatMulSoftmaxMatMul"] += 1
    return result
