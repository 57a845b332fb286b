"""Fuse an activation into the Conv/ConvTranspose/Gemm/MatMul that produces its input.

The fused node carries the engine attributes ``activation`` (the activation's op
type) and ``activation_params`` (floats), see engine/FORMAT.md, so the runtime
applies it in the kernel epilogue instead of a second pass over memory.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass

HOSTS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
FLOAT_MAX = float(np.finfo(np.float32).max)

# activation op -> its parameters as FORMAT.md lists them, or None when not fusable as is
ParamReader = Callable[[Graph, Node], list[float] | None]


def _no_params(_: Graph, __: Node) -> list[float]:
    return []


def _clip(graph: Graph, node: Node) -> list[float] | None:
    bounds = []
    for idx, default in ((1, -FLOAT_MAX), (2, FLOAT_MAX)):
        name = node.inputs[idx] if len(node.inputs) > idx else ""
        if not name:
            bounds.append(default)
            continue
        arr = graph.const(name)
        if arr is None or arr.size != 1:
            return None  # data-dependent bounds cannot become an attribute
        bounds.append(float(arr.reshape(-1)[0]))
    return bounds


def _gelu(_: Graph, node: Node) -> list[float] | None:
    return [] if node.attr("approximate", "none") == "none" else None


ACTIVATIONS: dict[str, ParamReader] = {
    "Relu": _no_params,
    "Clip": _clip,
    "LeakyRelu": lambda _g, n: [float(n.attr("alpha", 0.01))],
    "HardSigmoid": lambda _g, n: [float(n.attr("alpha", 0.2)), float(n.attr("beta", 0.5))],
    "HardSwish": _no_params,
    "Sigmoid": _no_params,
    "SiLU": _no_params,
    "Gelu": _gelu,
    "Tanh": _no_params,
}


@register_pass("activation_fusion")
def run(graph: Graph) -> PassResult:
    result = PassResult("activation_fusion")
    producers, consumers = graph.producers(), graph.consumers()
    for act in list(graph.nodes):
        reader = ACTIVATIONS.get(act.op_type)
        if reader is None or act.domain not in ("", "ai.onnx"):
            continue
        host = producers.get(act.inputs[0])
        if host is None or host.op_type not in HOSTS or "activation" in host.attrs:
            continue
        mid = host.outputs[0]
        if len(consumers.get(mid, [])) != 1 or mid in graph.outputs:
            continue
        params = reader(graph, act)
        if params is None or not graph.bypass(act.outputs[0], mid):
            continue
        host.attrs["activation"] = act.op_type
        host.attrs["activation_params"] = [float(p) for p in params]
        graph.remove_nodes([act])
        result.changes[f"{act.op_type} into {host.op_type}"] += 1
        producers, consumers = graph.producers(), graph.consumers()
    return result
