"""Lossless size reductions of an exported QDQ graph.

In a small model the graph's structure costs as much as several layers of 8-bit weights: the TorchScript
exporter writes every scale and zero point as its own Constant node (hundreds of identical scalars), routes
shared parameters through Identity nodes and gives values long scoped names. Each compaction here keeps what
every node computes (same ops, attributes, tensor values and types), and ONNX Runtime's optimized run of the
file stays bit for bit the same (which rules out sharing activation zero points, see ``omit_zero_points``).
One that retires value names returns old -> new so that the exporter can keep its quantizer -> value map
pointing at live values.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from configs.registry import Registry

Compaction = Callable[[onnx.GraphProto], dict[str, str]]
COMPACTIONS: Registry[Compaction] = Registry("QDQ compaction")
# the order matters: Constant nodes must be initializers before zero points can be dropped or values merged,
# and names are shortened last, when the set of live values is final
DEFAULT_COMPACTIONS = (
    "constants_to_initializers",
    "drop_identities",
    "omit_zero_points",
    "merge_identical_initializers",
    "drop_unused_initializers",
    "drop_node_names",
    "short_value_names",
)


def _redirect_inputs(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]


def _keep_nodes(graph: onnx.GraphProto, keep: Callable[[onnx.NodeProto], bool]) -> None:
    # rebuilding the repeated field is linear; removing nodes one by one is quadratic
    kept = [n for n in graph.node if keep(n)]
    del graph.node[:]
    graph.node.extend(kept)


def _interface(graph: onnx.GraphProto) -> set[str]:
    return {v.name for v in graph.input} | {v.name for v in graph.output}


@COMPACTIONS.register("constants_to_initializers")
def constants_to_initializers(graph: onnx.GraphProto) -> dict[str, str]:
    """Tensor-valued Constant nodes become initializers of the same name: the tensor without a node around it."""
    interface = _interface(graph)
    moved = []
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.attribute) == 1 \
                and node.attribute[0].name == "value" and node.output[0] not in interface:
            tensor = TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            moved.append(tensor)
    if moved:
        names = {t.name for t in moved}
        _keep_nodes(graph, lambda n: not (n.op_type == "Constant" and n.output[0] in names))
        graph.initializer.extend(moved)
    return {}


@COMPACTIONS.register("drop_identities")
def drop_identities(graph: onnx.GraphProto) -> dict[str, str]:
    """Consumers of an Identity read its input directly (the exporter's way to share one parameter)."""
    interface = _interface(graph)
    renames: dict[str, str] = {}
    for node in graph.node:  # topological order: an Identity's input is already resolved
        if node.op_type == "Identity" and node.domain in ("", "ai.onnx") and node.output[0] not in interface:
            renames[node.output[0]] = renames.get(node.input[0], node.input[0])
    if renames:
        _keep_nodes(graph, lambda n: not (n.op_type == "Identity" and n.output[0] in renames))
        _redirect_inputs(graph, renames)
    return renames


_QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def _run_time_zero_points(graph: onnx.GraphProto) -> set[str]:
    """Zero points of QuantizeLinear/DequantizeLinear nodes whose data is computed at run time (activations)."""
    constant = {t.name for t in graph.initializer}
    return {n.input[2] for n in graph.node
            if n.op_type in _QDQ_OPS and len(n.input) > 2 and n.input[2] and n.input[0] not in constant}


@COMPACTIONS.register("omit_zero_points")
def omit_zero_points(graph: onnx.GraphProto) -> dict[str, str]:
    """Drop all-zero zero points of DequantizeLinear nodes that read constant (weight) data.

    DequantizeLinear takes the zero point's type from its input, so the default (0) means the same. Activation
    quantizers keep theirs, one per quantizer, even when 0: ONNX Runtime's common-subexpression elimination
    merges the QuantizeLinear nodes of one value whose scale and zero-point inputs are the same (ORT itself
    shares equal float scalars, never 8-bit ones), and its QDQ fusion then runs a Conv(+Relu) -> QuantizeLinear
    it left in float before as QLinearConv, whose rounding moves outputs by a quantization step.
    """
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3 or node.input[0] not in inits:
            continue
        zp = inits.get(node.input[2])
        if zp is not None and not np.any(numpy_helper.to_array(zp).astype(np.int64)):
            del node.input[2:]
    return {}


def _tensor_key(tensor: TensorProto) -> tuple:
    # dtype, shape and exact bytes: -0.0 and 0.0 (or two NaN payloads) stay distinct
    return tensor.data_type, tuple(tensor.dims), numpy_helper.to_array(tensor).tobytes()


@COMPACTIONS.register("merge_identical_initializers")
def merge_identical_initializers(graph: onnx.GraphProto) -> dict[str, str]:
    """Initializers with equal type, shape and bytes are stored once (scales, reshape shapes, shared biases).

    Activation zero points stay one per quantizer, for the reason ``omit_zero_points`` keeps them.
    """
    # an initializer that is also a graph input can be overridden by the caller: it is not a constant
    excluded = {v.name for v in graph.input} | _run_time_zero_points(graph)
    first: dict[tuple, str] = {}
    renames: dict[str, str] = {}
    for tensor in graph.initializer:
        if tensor.name in excluded:
            continue
        name = first.setdefault(_tensor_key(tensor), tensor.name)
        if name != tensor.name:
            renames[tensor.name] = name
    if renames:
        kept = [t for t in graph.initializer if t.name not in renames]
        del graph.initializer[:]
        graph.initializer.extend(kept)
        _redirect_inputs(graph, renames)
    return renames


@COMPACTIONS.register("drop_unused_initializers")
def drop_unused_initializers(graph: onnx.GraphProto) -> dict[str, str]:
    """Initializers nobody reads (zero points just omitted, merged duplicates' leftovers)."""
    used = {name for node in graph.node for name in node.input} | _interface(graph)
    kept = [t for t in graph.initializer if t.name in used]
    if len(kept) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return {}


@COMPACTIONS.register("drop_node_names")
def drop_node_names(graph: onnx.GraphProto) -> dict[str, str]:
    """Node names and doc strings are optional in ONNX and nothing downstream reads them."""
    for node in graph.node:
        node.name = ""
        node.doc_string = ""
    return {}


_FIRST = string.ascii_letters + "_"
_REST = _FIRST + string.digits


def short_names() -> Iterator[str]:
    """C90 identifiers (what ONNX asks of names) by increasing length: a .. _, aa .. __, a0 .., aaa .."""
    yield from _FIRST
    for first in _FIRST:
        for rest in _REST:
            yield first + rest
    for first in _FIRST:
        for middle in _REST:
            for rest in _REST:
                yield first + middle + rest
    raise RuntimeError("more than 200,000 values to name")


@COMPACTIONS.register("short_value_names")
def short_value_names(graph: onnx.GraphProto) -> dict[str, str]:
    """Rename every value but the graph's inputs and outputs; the most read get the shortest names."""
    interface = _interface(graph)
    defined = [t.name for t in graph.initializer] + [o for n in graph.node for o in n.output if o]
    reads = Counter(name for node in graph.node for name in node.input)
    candidates = sorted((name for name in dict.fromkeys(defined) if name not in interface),
                        key=lambda name: -reads[name])  # stable: ties keep graph order
    renames = dict(zip(candidates, (n for n in short_names() if n not in interface)))
    for tensor in graph.initializer:
        tensor.name = renames.get(tensor.name, tensor.name)
    for node in graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = renames.get(name, name)
    for info in graph.value_info:
        info.name = renames.get(info.name, info.name)
    _redirect_inputs(graph, renames)
    return renames


def compact(model: onnx.ModelProto, compactions: tuple[str, ...] = DEFAULT_COMPACTIONS) -> dict[str, str]:
    """Apply ``compactions`` (names in ``COMPACTIONS``) in order to the graph (one without subgraphs), in place.

    Returns old -> new for every value name that no longer exists, composed over all compactions.
    """
    nested = sorted({n.op_type for n in model.graph.node for a in n.attribute
                     if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)})
    if nested:
        # a traced export has no control flow; renaming values across nested scopes is not implemented
        raise ValueError(f"cannot compact a graph with subgraphs (in {', '.join(nested)} nodes)")
    renames: dict[str, str] = {}
    for name in compactions:
        step = COMPACTIONS.get(name)(model.graph)
        renames = {old: step.get(new, new) for old, new in renames.items()}
        renames.update({old: new for old, new in step.items() if old not in renames})
    return renames
