"""Remove Identity and inference-time Dropout: both pass their input through unchanged."""

from __future__ import annotations

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass

_PASS_THROUGH = ("Identity", "Dropout")


@register_pass("identity_elimination")
def run(graph: Graph) -> PassResult:
    result = PassResult("identity_elimination")
    consumers = graph.consumers()
    for node in list(graph.nodes):
        if node.op_type not in _PASS_THROUGH or not node.inputs or not node.inputs[0]:
            continue
        if node.op_type == "Dropout" and not _is_inference_dropout(graph, node, consumers):
            continue
        if graph.bypass(node.outputs[0], node.inputs[0]):
            graph.remove_nodes([node])
            result.changes[f"removed {node.op_type}"] += 1
            consumers = graph.consumers()
    return result


def _is_inference_dropout(graph: Graph, node: Node, consumers: dict[str, list[Node]]) -> bool:
    # training_mode (input 2) must be absent or constant False, and the mask output unused
    if len(node.inputs) > 2 and node.inputs[2]:
        mode = graph.const(node.inputs[2])
        if mode is None or bool(mode):
            return False
    mask = node.outputs[1] if len(node.outputs) > 1 else ""
    return not mask or (mask not in consumers and mask not in graph.outputs)
