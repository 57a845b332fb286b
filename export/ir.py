"""A light in-memory graph that the optimization passes transform.

Values are named, typed (ONNX TensorProto dtype codes) and shaped (int for a
static dim, str for a named symbolic dim, None for unknown); constants carry a
NumPy array. Nodes refer to values by name, "" for an omitted optional input.
Conversion from and to ``onnx.ModelProto`` lives here so that every pass works
on one representation only.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from export.errors import ModelFormatError

Dim = int | str | None


class GraphError(ValueError):
    """The graph is not in a state the passes can leave it in (a cycle after a rewrite: a bug of ours)."""


@dataclass
class Value:
    name: str
    dtype: int  # onnx.TensorProto code; 0 = unknown
    shape: list[Dim] | None  # None: rank unknown
    const: np.ndarray | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def static_shape(self) -> tuple[int, ...] | None:
        """The shape when every dim is a known integer, else None."""
        if self.shape is None or not all(isinstance(d, int) for d in self.shape):
            return None
        return tuple(self.shape)  # type: ignore[arg-type]


@dataclass
class Node:
    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


@dataclass
class Graph:
    values: dict[str, Value]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    opset: int = 17
    meta: dict[str, str] = field(default_factory=dict)
    # the largest constant a pass may create (bytes): a hostile graph can ask folding for any size
    max_const_bytes: int = 2**30

    # ---- queries -------------------------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        return {out: n for n in self.nodes for out in n.outputs if out}

    def consumers(self) -> dict[str, list[Node]]:
        """Readers of each value; a node whose subgraph reads an outer value counts as its reader."""
        uses: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in node_reads(n):
                uses.setdefault(i, []).append(n)
        return uses

    def defined(self) -> set[str]:
        """Names this graph defines: its inputs, constants and node outputs."""
        names = set(self.inputs) | {k for k, v in self.values.items() if v.is_const}
        names.update(o for n in self.nodes for o in n.outputs if o)
        return names

    def outer_reads(self) -> list[str]:
        """Names read here (by nodes, nested subgraphs or as outputs) that an enclosing graph defines."""
        local = self.defined()
        seen: dict[str, None] = {}
        for n in self.nodes:
            for i in node_reads(n):
                if i not in local:
                    seen.setdefault(i)
        for o in self.outputs:
            if o not in local:
                seen.setdefault(o)
        return list(seen)

    def const(self, name: str) -> np.ndarray | None:
        v = self.values.get(name) if name else None
        return None if v is None else v.const

    def op_counts(self) -> Counter[str]:
        return Counter(n.op_type for n in self.nodes)

    # ---- edits ---------------------------------------------------------------------------------
    def all_names(self) -> set[str]:
        """Value and node names here and in every nested subgraph (a fresh name must not shadow one)."""
        names = set(self.values) | {n.name for n in self.nodes}
        for n in self.nodes:
            names.update(o for o in n.outputs if o)
            for _, sub in subgraphs(n):
                names |= sub.all_names()
        return names

    def fresh_name(self, base: str) -> str:
        taken = self.all_names()
        if base not in taken:
            return base
        for i in itertools.count(1):
            cand = f"{base}_{i}"
            if cand not in taken:
                return cand
        raise AssertionError("unreachable")

    def add_const(self, base: str, array: np.ndarray) -> str:
        name = self.fresh_name(base)
        array = np.asarray(array)
        self.values[name] = Value(name, dtype_of_numpy(array.dtype), list(array.shape), array)
        return name

    def replace_uses(self, old: str, new: str) -> None:
        """Every consumer of ``old`` reads ``new`` instead (graph outputs are not touched).

        Subgraphs that read ``old`` from this scope (a capture) read ``new`` too.
        """
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
            for _, sub in subgraphs(n):
                sub._rename_capture(old, new)

    def _rename_capture(self, old: str, new: str) -> None:
        if old in self.defined():
            return  # defined here: not the outer value
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
            for _, sub in subgraphs(n):
                sub._rename_capture(old, new)
        self.outputs = [new if o == old else o for o in self.outputs]

    def bypass(self, removed_output: str, replacement: str) -> bool:
        """Make ``removed_output`` redundant by routing its readers to ``replacement``.

        When ``removed_output`` is a graph output, the graph keeps its output name:
        ``replacement`` is renamed instead, which is only possible when it is an
        interior value (produced by a node, not itself a graph input/output).
        Returns False (and changes nothing) when that is not possible.
        """
        if removed_output not in self.outputs:
            self.replace_uses(removed_output, replacement)
            return True
        producer = self.producers().get(replacement)
        if producer is None or replacement in self.outputs or replacement in self.inputs:
            return False
        # both name the same tensor; the graph output's declared type is kept (it names its dims)
        interior, declared = self.values[replacement], self.values.get(removed_output)
        keep = declared if declared is not None and declared.shape is not None else interior
        self.values[removed_output] = Value(removed_output, keep.dtype or interior.dtype, keep.shape, None)
        producer.outputs = [removed_output if o == replacement else o for o in producer.outputs]
        self.replace_uses(replacement, removed_output)
        del self.values[replacement]
        return True

    def remove_nodes(self, dead: list[Node]) -> None:
        ids = {id(n) for n in dead}
        self.nodes = [n for n in self.nodes if id(n) not in ids]

    def prune_values(self) -> int:
        """Drop values nobody references any more; returns how many."""
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(node_reads(n))
            used.update(o for o in n.outputs if o)
        gone = [k for k in self.values if k not in used]
        for k in gone:
            del self.values[k]
        return len(gone)

    def toposort(self) -> None:
        """Order nodes so that every node comes after the producers of its inputs."""
        producer = self.producers()
        order: list[Node] = []
        state: dict[int, int] = {}  # 1 visiting, 2 done
        for root in self.nodes:
            stack: list[tuple[Node, bool]] = [(root, False)]
            while stack:
                node, expanded = stack.pop()
                if expanded:
                    state[id(node)] = 2
                    order.append(node)
                    continue
                if state.get(id(node)) == 2:
                    continue
                if state.get(id(node)) == 1:
                    raise GraphError(f"graph has a cycle through node '{node.name}'")
                state[id(node)] = 1
                stack.append((node, True))
                for i in reversed(node_reads(node)):
                    p = producer.get(i)
                    if p is not None and state.get(id(p)) != 2:
                        if state.get(id(p)) == 1:
                            raise GraphError(f"graph has a cycle through node '{p.name}'")
                        stack.append((p, False))
        self.nodes = order


def subgraphs(node: Node) -> list[tuple[str, Graph]]:
    """The node's graph attributes (If's branches, Loop's and Scan's body)."""
    return [(k, v) for k, v in node.attrs.items() if isinstance(v, Graph)]


def node_reads(node: Node) -> list[str]:
    """What a node reads: its inputs, then the outer values its subgraphs capture (once each)."""
    reads = [i for i in node.inputs if i]
    for _, sub in subgraphs(node):
        reads.extend(c for c in sub.outer_reads() if c not in reads)
    return reads


# ---- dtype helpers -----------------------------------------------------------------------------
def dtype_of_numpy(dt: np.dtype) -> int:
    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dt)))


def numpy_of_dtype(code: int) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(code))


DTYPE_NAMES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.INT4: "int4",
}


def dtype_name(code: int) -> str:
    return DTYPE_NAMES.get(code) or onnx.TensorProto.DataType.Name(code).lower()


# ---- ONNX -> IR --------------------------------------------------------------------------------
def dims_of(tensor_type: onnx.TypeProto.Tensor) -> list[Dim] | None:
    if not tensor_type.HasField("shape"):
        return None
    dims: list[Dim] = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def _value_from_info(info: onnx.ValueInfoProto) -> Value:
    t = info.type.tensor_type
    return Value(info.name, int(t.elem_type), dims_of(t))


def _attr_value(a: onnx.AttributeProto, node_name: str) -> Any:
    if a.type == onnx.AttributeProto.GRAPH:
        return _subgraph_from_onnx(a.g, node_name)
    if a.type == onnx.AttributeProto.GRAPHS:
        raise ModelFormatError(f"attribute '{a.name}' holds a list of graphs, which the engine file cannot carry",
                               kind="unsupported-ops", where=f"node '{node_name}'")
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list):
        return [x.decode("utf-8") if isinstance(x, bytes) else x for x in v]
    return v


def from_onnx(model: onnx.ModelProto) -> Graph:
    """Build the IR from a (shape-inferred) ONNX model; Constant nodes become constants."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    graph = _graph_from_onnx(model.graph)
    _type_control_flow(graph, [])
    graph.opset = opset
    graph.meta = {p.key: p.value for p in model.metadata_props}
    return graph


def _type_control_flow(graph: Graph, outer: list[Graph]) -> None:
    """Element types ONNX's inference leaves out around control flow (an untyped Loop body input, a Loop
    output): the op's semantics fix them (iteration number int64, condition bool, a carried value keeps its
    type, a scan value has its body output's)."""
    def dtype(name: str, scopes: list[Graph]) -> int:
        v = next((g.values[name] for g in scopes if name in g.values), None)
        return v.dtype if v is not None else 0

    def fill(g: Graph, name: str, code: int) -> None:
        v = g.values.setdefault(name, Value(name, 0, None))
        if not v.dtype and code:
            v.dtype = code

    scopes = [graph, *outer]
    for n in graph.nodes:
        body = n.attrs.get("body")
        if n.op_type == "Loop" and isinstance(body, Graph) and len(body.inputs) >= 2:
            fill(body, body.inputs[0], onnx.TensorProto.INT64)
            fill(body, body.inputs[1], onnx.TensorProto.BOOL)
            for j, name in enumerate(body.inputs[2:]):
                carried = dtype(n.inputs[2 + j], scopes) if 2 + j < len(n.inputs) and n.inputs[2 + j] else 0
                fill(body, name, carried)
                if 1 + j < len(body.outputs):
                    fill(body, body.outputs[1 + j], carried)
            for k, out in enumerate(n.outputs):
                if out and 1 + k < len(body.outputs):
                    fill(graph, out, dtype(body.outputs[1 + k], [body]))
        elif n.op_type == "Scan" and isinstance(body, Graph):
            for name, outer_name in zip(body.inputs, n.inputs):
                fill(body, name, dtype(outer_name, scopes) if outer_name else 0)
            for out, inner in zip(n.outputs, body.outputs):
                if out:
                    fill(graph, out, dtype(inner, [body]))
        for _, sub in subgraphs(n):
            _type_control_flow(sub, scopes)


def _subgraph_from_onnx(g: onnx.GraphProto, node_name: str) -> Graph:
    """A graph attribute; an output it does not compute (an input, an outer value, a constant passed
    through) gets an Identity node, since the engine file wants every graph output produced by a node."""
    sub = _graph_from_onnx(g)
    produced = {o for n in sub.nodes for o in n.outputs if o}
    declared = {info.name: _value_from_info(info) for info in g.output}
    for k, out in enumerate(sub.outputs):
        if out in produced:
            continue
        fresh = sub.fresh_name(f"{out}__out")
        typ = declared.get(out) or sub.values.get(out) or Value(out, 0, None)
        sub.values[fresh] = Value(fresh, typ.dtype, typ.shape)
        sub.nodes.append(Node("Identity", sub.fresh_name(f"{node_name}_output_{k}"), [out], [fresh]))
        sub.outputs[k] = fresh
        produced.add(fresh)
    return sub


def _graph_from_onnx(g: onnx.GraphProto) -> Graph:
    values: dict[str, Value] = {}
    for info in itertools.chain(g.input, g.value_info, g.output):
        values[info.name] = _value_from_info(info)
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        values[init.name] = Value(init.name, int(init.data_type), list(arr.shape), arr)
    # an initializer listed as an input is an overridable default; for inference it is a weight
    inputs = [i.name for i in g.input if values[i.name].const is None]
    nodes: list[Node] = []
    names_seen: set[str] = set()
    for idx, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{idx}"
        while name in names_seen:
            name = f"{name}_{idx}"
        names_seen.add(name)
        attrs = {a.name: _attr_value(a, name) for a in n.attribute}
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            arr = _constant_node_value(attrs, name)
            values[n.output[0]] = Value(n.output[0], dtype_of_numpy(arr.dtype), list(arr.shape), arr)
            continue
        for o in n.output:
            if o and o not in values:
                values[o] = Value(o, 0, None)
        nodes.append(Node(n.op_type, name, list(n.input), list(n.output), attrs, n.domain))
    return Graph(values, nodes, inputs, [o.name for o in g.output])


def _constant_node_value(attrs: dict[str, Any], name: str) -> np.ndarray:
    kinds = {
        "value": lambda v: np.asarray(v),
        "value_float": lambda v: np.asarray(v, np.float32),
        "value_floats": lambda v: np.asarray(v, np.float32),
        "value_int": lambda v: np.asarray(v, np.int64),
        "value_ints": lambda v: np.asarray(v, np.int64),
    }
    for key, make in kinds.items():
        if key in attrs:
            return make(attrs[key])
    raise ModelFormatError(f"has no supported value attribute (got {sorted(attrs)})", kind="attribute",
                           where=f"Constant node '{name}'")


# ---- IR -> ONNX (used to check numerics of a transformed graph with onnxruntime) ---------------
def _info(v: Value) -> onnx.ValueInfoProto:
    shape = None if v.shape is None else [d if d is not None else None for d in v.shape]
    return helper.make_tensor_value_info(v.name, v.dtype or onnx.TensorProto.UNDEFINED, shape)


def onnx_attr_value(value: Any) -> Any:
    """An IR attribute value as helper.make_node/make_attribute take it (a subgraph as a GraphProto)."""
    return to_onnx_graph(value, "subgraph") if isinstance(value, Graph) else value


def to_onnx_graph(graph: Graph, name: str = "slimlab") -> onnx.GraphProto:
    nodes = []
    for n in graph.nodes:
        node = helper.make_node(n.op_type, n.inputs, n.outputs, name=n.name, domain=n.domain or None)
        for key, value in n.attrs.items():
            # an empty list has no inferable type; the only empty list attribute is activation_params
            kind = onnx.AttributeProto.FLOATS if isinstance(value, list) and not value else None
            node.attribute.append(helper.make_attribute(key, onnx_attr_value(value), attr_type=kind))
        nodes.append(node)
    inits = [numpy_helper.from_array(v.const, v.name) for v in graph.values.values() if v.is_const]
    interior = [
        _info(v)
        for v in graph.values.values()
        if not v.is_const and v.name not in graph.inputs and v.name not in graph.outputs and v.dtype
    ]
    return helper.make_graph(
        nodes,
        name,
        [_info(graph.values[i]) for i in graph.inputs],
        [_info(graph.values[o]) for o in graph.outputs],
        initializer=inits,
        value_info=interior,
    )


def to_onnx_model(graph: Graph) -> onnx.ModelProto:
    """The IR as an ONNX model (engine-only attributes/ops are kept as they are)."""
    g = to_onnx_graph(graph)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", graph.opset or 17)])
    model.ir_version = min(model.ir_version, 9)
    return model
