"""Short value and node names: the exporter's scoped names ("/stages/stages.4/.../Constant_1_output_0")
cost more bytes than 8-bit weights of small models, and nothing downstream needs them."""

from __future__ import annotations

import onnx


def compact_names(model: onnx.ModelProto, keep: set[str] = frozenset()) -> dict[str, str]:
    """Rename intermediate values to ``v<i>`` and nodes to ``n<i>`` in place; graph inputs, outputs,
    initializers and ``keep`` names are unchanged. Returns old -> new for renamed values."""
    graph = model.graph
    fixed = {v.name for v in graph.input} | {v.name for v in graph.output} | set(keep)
    fixed |= {init.name for init in graph.initializer}
    renames: dict[str, str] = {}
    for node in graph.node:
        for name in node.output:
            if name and name not in fixed and name not in renames:
                renames[name] = f"v{len(renames)}"
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        for j, name in enumerate(node.input):
            node.input[j] = renames.get(name, name)
        for j, name in enumerate(node.output):
            node.output[j] = renames.get(name, name)
    for vi in list(graph.value_info):
        if vi.name in renames:
            vi.name = renames[vi.name]
    return renames
