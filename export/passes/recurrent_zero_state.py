"""Drop an all-zero initial state of LSTM/GRU/RNN: an omitted initial_h/initial_c is zero by definition.

torch.onnx exports a recurrent layer without h0/c0 with an explicit zero state, built from the input's
batch size (Shape -> Gather -> Concat -> ConstantOfShape -> Slice per layer); with a dynamic batch nothing
folds it, so it would be computed on every run. Here the state input is omitted instead, and
dead_node_elimination removes the chain.
"""

from __future__ import annotations

import numpy as np

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass

_RECURRENT = ("LSTM", "GRU", "RNN")
_STATE_INPUTS = (5, 6)  # initial_h, initial_c (LSTM only)
# ops whose output is zero wherever their data input (input 0) is: they only move or select elements
_ZERO_PRESERVING = ("Slice", "Expand", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Tile",
                    "Flatten", "Gather")


def _is_zero(graph: Graph, name: str, producers: dict[str, Node], depth: int = 0) -> bool:
    const = graph.const(name)
    if const is not None:
        return bool(const.size) and np.issubdtype(const.dtype, np.number) and not np.any(const)
    node = producers.get(name)
    if node is None or depth > 16:
        return False
    if node.op_type == "ConstantOfShape":
        value = node.attr("value")
        return value is None or not np.any(np.asarray(value))
    if node.op_type in _ZERO_PRESERVING and node.inputs and node.inputs[0]:
        return _is_zero(graph, node.inputs[0], producers, depth + 1)
    return False


@register_pass("recurrent_zero_state")
def run(graph: Graph) -> PassResult:
    result = PassResult("recurrent_zero_state")
    producers = graph.producers()
    for node in graph.nodes:
        if node.op_type not in _RECURRENT:
            continue
        for i in _STATE_INPUTS:
            if i < len(node.inputs) and node.inputs[i] and _is_zero(graph, node.inputs[i], producers):
                node.inputs[i] = ""
                result.changes["dropped zero states"] += 1
        while node.inputs and not node.inputs[-1]:
            node.inputs.pop()
    return result
