"""Fold a squeeze-excite gate into the 1x1 convolution that reads the gated tensor.

EfficientNet and MobileNetV3 end each block with ``Mul(x, gate)`` (gate [N, C, 1, 1], x [N, C,
H, W]) read only by a dense 1x1 Conv. The gated tensor costs a full pass over memory to write
and another to read; the engine's Conv takes the gate as its input 3 instead (an engine
addition, engine/FORMAT.md) and applies it to the weights, per image, or to the pixels when
there are fewer of them than output channels.
"""

from __future__ import annotations

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass


def _pointwise(graph: Graph, conv: Node) -> bool:
    w = graph.values[conv.inputs[1]].shape if len(conv.inputs) > 1 else None
    if w is None or len(w) != 4 or w[2:] != [1, 1] or len(conv.inputs) > 3:
        return False
    attrs = conv.attrs
    return (attrs.get("group", 1) == 1 and list(attrs.get("strides", [1, 1])) == [1, 1]
            and list(attrs.get("dilations", [1, 1])) == [1, 1] and not any(attrs.get("pads", [0, 0, 0, 0]))
            and attrs.get("auto_pad", "NOTSET") in ("NOTSET", b"NOTSET"))


def _gate(graph: Graph, mul: Node) -> tuple[str, str] | None:
    """(x, gate) when ``mul`` scales a rank-4 x by a [N, C, 1, 1] gate of the same N and C."""
    if mul.op_type != "Mul" or len(mul.inputs) != 2:
        return None
    for i in (0, 1):
        x, g = graph.values[mul.inputs[i]].shape, graph.values[mul.inputs[1 - i]].shape
        if x is None or g is None or len(x) != 4 or len(g) != 4 or g[2:] != [1, 1]:
            continue
        if x[0] is not None and x[0] == g[0] and isinstance(x[1], int) and x[1] == g[1] and x[2:] != [1, 1]:
            if graph.values[mul.inputs[1 - i]].is_const:
                return None  # a constant per-channel scale folds into the weights elsewhere, not at run time
            return mul.inputs[i], mul.inputs[1 - i]
    return None


@register_pass("se_scale_fusion")
def run(graph: Graph) -> PassResult:
    result = PassResult("se_scale_fusion")
    producers, consumers = graph.producers(), graph.consumers()
    dead: list[Node] = []
    for conv in graph.nodes:
        if conv.op_type != "Conv" or not _pointwise(graph, conv):
            continue
        mul = producers.get(conv.inputs[0])
        if mul is None or len(consumers.get(mul.outputs[0], [])) != 1 or mul.outputs[0] in graph.outputs:
            continue
        found = _gate(graph, mul)
        if found is None:
            continue
        x, gate = found
        conv.inputs = [x, conv.inputs[1], conv.inputs[2] if len(conv.inputs) > 2 else "", gate]
        dead.append(mul)
        result.changes["squeeze-excite Mul -> Conv input 3"] += 1
    graph.remove_nodes(dead)
    return result
