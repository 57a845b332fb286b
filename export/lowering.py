"""Ops the engine runs as other ops: 1-D convolutions as 2-D ones of unit height.

The engine's convolution kernels are 2-D (NHWC, im2col/Winograd/depthwise); a 1-D Conv or ConvTranspose (audio,
keyword spotting, temporal convolutions, causal convolutions) is the same computation on an image one pixel
high, so it is written as Unsqueeze(x, 2) -> 2-D op (kernel 1 x k, pads, strides and dilations of the height
axis neutral) -> Squeeze(y, 2). Runs on the shape-inferred ModelProto, after the opset normalization
(export.opsets) and before the IR; the caller re-infers shapes for the values it adds.

Adding a lowering: one function with ``@lowering("Op")`` returning the replacement nodes, or None to keep the
node.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import NodeProto, helper

from export.opsets import DEFAULT_DOMAINS, RewriteContext, value_types

Lowering = Callable[[NodeProto, RewriteContext], list[NodeProto] | None]
LOWERINGS: dict[str, Lowering] = {}


def lowering(*ops: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for op in ops:
            LOWERINGS[op] = fn
        return fn
    return register


def _ints(node: NodeProto, name: str) -> list[int] | None:
    a = next((a for a in node.attribute if a.name == name), None)
    return None if a is None else [int(v) for v in a.ints]


@lowering("Conv", "ConvTranspose")
def _conv_1d(node: NodeProto, ctx: RewriteContext) -> list[NodeProto] | None:
    x_shape = ctx.shape(node.input[0])
    if x_shape is None or len(x_shape) != 3:
        return None
    base = node.name or node.op_type
    axes = ctx.add_const(f"{base}_height_axis", np.asarray([2], np.int64))
    x4 = ctx.computed(f"{base}_x2d")
    nodes = [helper.make_node("Unsqueeze", [node.input[0], axes], [x4], name=ctx.fresh(f"{base}_unsqueeze"))]
    w = ctx.const(node.input[1])
    if w is not None:
        w4 = ctx.add_const(f"{base}_w2d", w.reshape(w.shape[0], w.shape[1], 1, *w.shape[2:]))
    else:
        w4 = ctx.computed(f"{base}_w2d")
        nodes.append(helper.make_node("Unsqueeze", [node.input[1], axes], [w4], name=ctx.fresh(f"{base}_w_unsqueeze")))
    y4 = ctx.computed(f"{base}_y2d")
    conv = helper.make_node(node.op_type, [x4, w4, *node.input[2:]], [y4], name=node.name or ctx.fresh(base))
    neutral = {"kernel_shape": [1], "strides": [1], "dilations": [1], "output_padding": [0], "output_shape": [1]}
    for a in node.attribute:
        if a.name in neutral:
            conv.attribute.append(helper.make_attribute(a.name, neutral[a.name] + [int(v) for v in a.ints]))
        elif a.name == "pads":
            begin, end = list(a.ints[:1]), list(a.ints[1:])
            conv.attribute.append(helper.make_attribute("pads", [0, *begin, 0, *end]))
        else:
            conv.attribute.append(a)
    nodes.append(conv)
    nodes.append(helper.make_node("Squeeze", [y4, axes], [node.output[0]], name=ctx.fresh(f"{base}_squeeze")))
    return nodes


def lower(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    """``model`` with every node that has a lowering rewritten (top graph); counts per op type."""
    counts: dict[str, int] = {}
    graph = model.graph
    ctx = RewriteContext(graph, value_types(graph))
    nodes: list[NodeProto] = []
    for node in graph.node:
        fn = LOWERINGS.get(node.op_type) if node.domain in DEFAULT_DOMAINS else None
        replaced = fn(node, ctx) if fn is not None else None
        if replaced is None:
            nodes.append(node)
            continue
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
        nodes.extend(replaced)
    if not counts:
        return model, counts
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(ctx.new_initializers)
    return out, counts

