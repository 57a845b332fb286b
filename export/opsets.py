"""Any ai.onnx opset -> the engine's forms (opset 17, engine/FORMAT.md), each node read at its own opset.

Older models are brought up by ONNX's version converter, whose adapters encode every op's changes up to 17. Newer
ones are not brought down by it: it has no down-adapters past 17 for most ops, so a model from today's torch
failed whole. Instead, after shape inference at the model's own opset, every node is read with the schema of the
opset it was written at (the model's, or its function's for an expanded body):

- written at an op version <= 17: the engine's semantics already;
- a later version whose inputs, outputs and attributes are those of the opset-17 one (it only widened the types,
  e.g. Reshape-21 for int4): kept; the engine checks the dtypes;
- a later version that changed the signature: its adapter in ``ADAPTERS`` rewrites it into the opset-17 form
  (Split's num_outputs as split sizes, Pad's axes folded into pads, Cast's float8-only attributes dropped ...),
  or refuses it naming the node and what the engine lacks, never guessing;
- an op the engine runs natively (its support matrix; e.g. Gelu-20): kept, whatever its version;
- an op ONNX defines as a function (RMSNormalization, Attention, GroupNormalization, Mish ...) that the engine
  lacks: expanded into that function's body, as ONNX Runtime runs function ops, and the body's nodes are read in
  turn at the function's opset;
- anything else: kept, for the support check to name with every other unsupported op.

The default-domain opset of the result is 17; ``opset_note`` says what was done, and the engine file keeps the
source opset (``source_opset``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx.version_converter
from onnx import AttributeProto, FunctionProto, GraphProto, NodeProto, TensorProto, defs, helper, numpy_helper

from export.errors import ModelFormatError, node_label

ENGINE_OPSET = 17
DEFAULT_DOMAINS = ("", "ai.onnx")
_MAX_EXPANSION_DEPTH = 8  # a function body that uses a function op that ... (ONNX's own nest 2-3 deep)
_FLOAT8 = {getattr(TensorProto, n) for n in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
                                                "FLOAT8E8M0", "FLOAT4E2M1") if hasattr(TensorProto, n)}


def default_opset(model: onnx.ModelProto) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), None)


def upgrade(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    """A model older than opset 17 brought up by ONNX's version converter (its adapters know every change)."""
    try:
        return onnx.version_converter.convert_version(model, ENGINE_OPSET)
    except Exception as exc:  # the converter raises bare RuntimeError/ValueError subclasses
        version = default_opset(model)
        raise ModelFormatError(f"uses ai.onnx opset {version}, which could not be converted to opset "
                               f"{ENGINE_OPSET}: {_first_line(exc)}", kind="opset", where="opset_import",
                               source=source) from exc


@dataclass
class Rewrites:
    """What ``to_engine_forms`` did, for the conversion report."""

    adapted: Counter[str] = field(default_factory=Counter)
    expanded: Counter[str] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.adapted or self.expanded)

    def summary(self) -> str:
        parts = []
        if self.adapted:
            parts.append("adapted " + ", ".join(f"{op} x{n}" for op, n in sorted(self.adapted.items())))
        if self.expanded:
            parts.append("expanded into ONNX function bodies "
                         + ", ".join(f"{op} x{n}" for op, n in sorted(self.expanded.items())))
        return "; ".join(parts)


class _Context:
    """What an adapter may read and add: known shapes and constant values, fresh names, new initializers."""

    def __init__(self, graph: GraphProto, types: dict[str, onnx.TypeProto]) -> None:
        self.graph = graph
        self.types = types
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for n in graph.node:
            self.note_constant(n)
        self._used = {n for node in graph.node for n in itertools.chain(node.input, node.output, [node.name])}
        self._used |= set(types)
        self.new_initializers: list[TensorProto] = []
        self.made_values = False  # an adapter added a computed value, which needs its type inferred
        self.rank_hints: dict[str, tuple[int, int]] = {}  # value -> (elem type, rank) inference cannot give

    def note_constant(self, node: NodeProto) -> None:
        if node.op_type != "Constant" or node.domain not in DEFAULT_DOMAINS or len(node.attribute) != 1:
            return
        a = node.attribute[0]
        kinds = {"value": lambda: numpy_helper.to_array(a.t), "value_int": lambda: np.asarray(a.i, np.int64),
                 "value_ints": lambda: np.asarray(list(a.ints), np.int64),
                 "value_float": lambda: np.asarray(a.f, np.float32),
                 "value_floats": lambda: np.asarray(list(a.floats), np.float32)}
        if a.name in kinds and not a.HasField("ref_attr_name"):
            self.consts[node.output[0]] = kinds[a.name]()

    def shape(self, name: str) -> list[int | None] | None:
        t = self.types.get(name)
        if t is None or not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            return None
        return [d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim]

    def elem_type(self, name: str) -> int:
        t = self.types.get(name)
        return t.tensor_type.elem_type if t is not None and t.HasField("tensor_type") else 0

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def computed(self, base: str) -> str:
        self.made_values = True
        return self.fresh(base)

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def add_const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.new_initializers.append(numpy_helper.from_array(value, name))
        self.consts[name] = value
        return name


Adapter = Callable[[NodeProto, _Context, str], list[NodeProto]]
ADAPTERS: dict[str, Adapter] = {}


def adapter(*ops: str) -> Callable[[Adapter], Adapter]:
    """Registers the rewrite of a node written at an op version past 17 whose signature changed."""
    def register(fn: Adapter) -> Adapter:
        for op in ops:
            ADAPTERS[op] = fn
        return fn
    return register


def _attrs(node: NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _without(node: NodeProto, *names: str) -> NodeProto:
    out = NodeProto()
    out.CopyFrom(node)
    del out.attribute[:]
    out.attribute.extend(a for a in node.attribute if a.name not in names)
    return out


def _refuse(node: NodeProto, what: str, version: int) -> ModelFormatError:
    return ModelFormatError(f"{what} (ai.onnx opset {version}); the engine does not support it",
                            kind="opset", where=node_label(node.name, node.op_type))


def _drop_defaults(node: NodeProto, version: int, defaults: dict[str, object]) -> NodeProto:
    """The node without the later-added attributes whose value is the default (the opset-17 behaviour)."""
    attrs = _attrs(node)
    for name, default in defaults.items():
        if name in attrs and attrs[name] != default:
            raise _refuse(node, f"attribute '{name}' = {attrs[name]!r}", version)
    return _without(node, *defaults)


@adapter("Cast", "CastLike")
def _cast(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    # saturate and round_mode only act on float8/float4 targets, which the engine has not: for every other
    # target they change nothing; a float8 target stays for the writer to refuse by dtype
    attrs = _attrs(node)
    target = attrs.get("to") if node.op_type == "Cast" else ctx.elem_type(node.input[1])
    if target in _FLOAT8:
        return [node]
    return [_without(node, "saturate", "round_mode")]


@adapter("QuantizeLinear", "DequantizeLinear")
def _qdq(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    # block_size and output_dtype are handled (or refused) by export.quantized.precisions before this runs;
    # saturate is float8-only, precision only changes a float16/bfloat16 division
    attrs = _attrs(node)
    if attrs.get("precision", 0) not in (0, TensorProto.FLOAT):
        raise _refuse(node, f"attribute 'precision' = {attrs['precision']}", version)
    keep = [a for a in ("block_size", "output_dtype") if attrs.get(a, 0)]
    if keep:
        raise _refuse(node, f"attribute '{keep[0]}' = {attrs[keep[0]]}", version)
    return [_without(node, "saturate", "precision", "block_size", "output_dtype")]


_REDUCTIONS = ("ReduceMax", "ReduceMin", "ReduceMean", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
               "ReduceProd", "ReduceSumSquare")


@adapter(*_REDUCTIONS)
def _reduce(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    # opset 18 moved axes from an attribute to an input. Constant axes go back to the attribute (the passes
    # read it); run-time axes stay an input, which the engine's reductions take too (as ReduceSum-13's)
    given = len(node.input) > 1 and bool(node.input[1])
    axes = ctx.const(node.input[1]) if given else np.zeros(0, np.int64)
    if axes is None:
        # ONNX cannot type the result of run-time axes; with keepdims its rank is the input's, which the
        # engine file needs (a normalization expanded from its function keeps dims this way)
        shape = ctx.shape(node.input[0])
        if _attrs(node).get("keepdims", 1) and shape is not None and ctx.shape(node.output[0]) is None:
            ctx.rank_hints[node.output[0]] = (ctx.elem_type(node.input[0]), len(shape))
        return [node]
    if axes.size == 0 and _attrs(node).get("noop_with_empty_axes", 0):
        return [helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name)]
    out = _without(_trim_inputs(node, 1), "noop_with_empty_axes", "axes")
    if axes.size:
        out.attribute.append(helper.make_attribute("axes", [int(a) for a in axes.reshape(-1)]))
    return [out]


def _trim_inputs(node: NodeProto, count: int) -> NodeProto:
    out = NodeProto()
    out.CopyFrom(node)
    del out.input[count:]
    return out


@adapter("Split")
def _split(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    # num_outputs (opset 18) allows a shorter last chunk; opset 17's Split without sizes splits evenly
    attrs = _attrs(node)
    if "num_outputs" not in attrs or (len(node.input) > 1 and node.input[1]):
        return [_without(node, "num_outputs")]
    parts = int(attrs["num_outputs"])
    if parts != len(node.output):
        raise ModelFormatError(f"num_outputs = {parts} but the node has {len(node.output)} outputs",
                               kind="invalid", where=node_label(node.name, node.op_type))
    shape = ctx.shape(node.input[0])
    axis = int(attrs.get("axis", 0))
    dim = None if shape is None or not -len(shape) <= axis < len(shape) else shape[axis]
    out = _without(node, "num_outputs")
    if dim is None or dim % parts == 0:
        return [out]  # even split, or unknown until run time: the engine's even split refuses a remainder
    chunk = -(-dim // parts)
    sizes = [chunk] * (parts - 1) + [dim - chunk * (parts - 1)]
    if sizes[-1] <= 0:
        raise ModelFormatError(f"cannot split {dim} elements into {parts} outputs", kind="invalid",
                               where=node_label(node.name, node.op_type))
    del out.input[:]
    out.input.extend([node.input[0], ctx.add_const(f"{node.name or 'split'}_sizes", np.asarray(sizes, np.int64))])
    return [out]


@adapter("Pad")
def _pad(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    # opset 18's axes input names the axes pads refer to; opset 17's pads cover every axis
    mode = _attrs(node).get("mode", b"constant")
    if mode not in (b"constant", b"reflect", b"edge"):
        raise _refuse(node, f"mode '{mode.decode(errors='replace')}'", version)
    if len(node.input) < 4 or not node.input[3]:
        return [_trim_inputs(node, min(len(node.input), 3))]
    axes, pads = ctx.const(node.input[3]), ctx.const(node.input[1])
    shape = ctx.shape(node.input[0])
    if axes is None or shape is None:
        raise _refuse(node, "an axes input that is not a constant (or data of unknown rank)", version)
    rank, axes = len(shape), [int(a) for a in axes.reshape(-1)]
    for a in axes:
        if not -rank <= a < rank:
            raise ModelFormatError(f"axis {a} is out of range for rank {rank}", kind="invalid",
                                   where=node_label(node.name, node.op_type))
    # where each of the 2*rank full pads comes from in [0, *pads]: 0 for an axis that is not padded
    source = np.zeros(2 * rank, np.int64)
    for i, a in enumerate(axes):
        source[a % rank], source[a % rank + rank] = 1 + i, 1 + i + len(axes)
    out = _trim_inputs(node, 3)
    name = node.name or "pad"
    if pads is not None:
        out.input[1] = ctx.add_const(f"{name}_pads", np.concatenate([[0], pads.reshape(-1)])[source].astype(np.int64))
        return [out]
    # pads known only at run time (an expanded Attention's): gathered into place by the graph
    padded = ctx.computed(f"{name}_zero_and_pads")
    out.input[1] = ctx.computed(f"{name}_pads")
    return [helper.make_node("Concat", [ctx.add_const(f"{name}_zero", np.zeros(1, np.int64)), node.input[1]],
                             [padded], name=ctx.fresh(f"{name}_concat"), axis=0),
            helper.make_node("Gather", [padded, ctx.add_const(f"{name}_source", source)], [out.input[1]],
                             name=ctx.fresh(f"{name}_gather"), axis=0),
            out]


@adapter("Resize")
def _resize(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    attrs = _attrs(node)
    if attrs.get("antialias", 0):
        raise _refuse(node, "attribute 'antialias' = 1", version)
    policy = attrs.get("keep_aspect_ratio_policy", b"stretch")
    axes = attrs.get("axes")
    out = _without(node, "antialias", "keep_aspect_ratio_policy", "axes")
    if axes is None and policy == b"stretch":
        return [out]
    shape = ctx.shape(node.input[0])
    if shape is None:
        raise _refuse(node, "attribute 'axes' or 'keep_aspect_ratio_policy' on data of unknown rank", version)
    rank = len(shape)
    axes = [int(a) % rank for a in (axes if axes is not None else range(rank))]
    scales = ctx.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    sizes = ctx.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    has_sizes = len(node.input) > 3 and bool(node.input[3])
    if (has_sizes and sizes is None) or (not has_sizes and scales is None):
        raise _refuse(node, "axes or an aspect-ratio policy with run-time scales/sizes", version)
    name = node.name or "resize"
    if has_sizes:
        if any(d is None for d in shape):
            raise _refuse(node, "sizes for some axes of data whose dims are unknown at conversion", version)
        sizes = [int(s) for s in sizes.reshape(-1)]
        if policy != b"stretch":
            ratios = [sizes[i] / shape[a] for i, a in enumerate(axes)]
            scale = min(ratios) if policy == b"not_larger" else max(ratios)
            sizes = [int(np.floor(scale * shape[a] + 0.5)) for a in axes]
        full = list(shape)
        for i, a in enumerate(axes):
            full[a] = sizes[i]
        out.input[3] = ctx.add_const(f"{name}_sizes", np.asarray(full, np.int64))
    else:
        full_scales = np.ones(rank, np.float32)
        full_scales[axes] = scales.reshape(-1)
        out.input[2] = ctx.add_const(f"{name}_scales", full_scales)
    if len(node.input) > 1 and node.input[1] and ctx.const(node.input[1]) is not None:
        roi = ctx.const(node.input[1]).reshape(-1)
        if roi.size == 2 * len(axes):
            full_roi = np.concatenate([np.zeros(rank), np.ones(rank)]).astype(roi.dtype)
            for i, a in enumerate(axes):
                full_roi[a], full_roi[a + rank] = roi[i], roi[i + len(axes)]
            out.input[1] = ctx.add_const(f"{name}_roi", full_roi)
    return [out]


@adapter("AveragePool", "LpPool")
def _pool(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    # dilations (and LpPool's ceil_mode) came late to these two, but the engine's pooling geometry, shared by
    # every pool op, reads them at any version
    return [node]


@adapter("Range")
def _range(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    # stash_type only changes float16/bfloat16 arithmetic, which the engine's Range does not take
    return [_without(node, "stash_type")]


@adapter("SpaceToDepth")
def _space_to_depth(node: NodeProto, ctx: _Context, version: int) -> list[NodeProto]:
    return [_drop_defaults(node, version, {"mode": b"DCR"})]


def _since(op: str, version: int, domain: str) -> int | None:
    try:
        return defs.get_schema(op, version, domain).since_version
    except defs.SchemaError:
        return None


def _function_body(node: NodeProto, version: int, input_types: list[onnx.TypeProto]) -> FunctionProto | None:
    try:
        schema = defs.get_schema(node.op_type, version, node.domain)
    except defs.SchemaError:
        return None
    if schema.has_function:
        versions = [v for v in schema.function_opset_versions if v <= version]
        if not versions:
            return None
        data = schema.get_function_with_opset_version(max(versions))
    elif schema.has_context_dependent_function:
        versions = [v for v in schema.context_dependent_function_opset_versions if v <= version]
        if not versions or any(t is None for t in input_types):
            return None
        # the function builders read the node's attributes, defaults included
        full = NodeProto()
        full.CopyFrom(node)
        present = {a.name for a in node.attribute}
        for name, a in schema.attributes.items():
            if name not in present and a.default_value.name:
                full.attribute.append(a.default_value)
        try:
            data = schema.get_context_dependent_function_with_opset_version(
                max(versions), full.SerializeToString(), [t.SerializeToString() for t in input_types])
        except Exception:  # a builder that refuses these inputs: keep the node, the support check names it
            return None
    else:
        return None
    fn = FunctionProto()
    fn.ParseFromString(data)
    if not fn.node or any(o.domain not in DEFAULT_DOMAINS for o in fn.opset_import):
        return None
    return fn


def _expand(node: NodeProto, fn: FunctionProto, schema: defs.OpSchema, ctx: _Context) -> list[NodeProto]:
    """The function's nodes with its formal inputs/outputs bound to the node's, attributes resolved."""
    prefix = ctx.fresh(f"{node.name or node.op_type}__{node.op_type}") + "__"
    attrs = {a.name: a for a in node.attribute}
    for name, a in schema.attributes.items():
        if name not in attrs and a.default_value.name:
            attrs[name] = a.default_value
    for a in fn.attribute_proto:  # the function's own defaults
        attrs.setdefault(a.name, a)
    rename = {f: (node.input[i] if i < len(node.input) else "") for i, f in enumerate(fn.input)}
    rename.update({f: node.output[i] for i, f in enumerate(fn.output) if i < len(node.output) and node.output[i]})

    def mapped(name: str) -> str:
        return rename.get(name, "" if name == "" else prefix + name)

    out = []
    for k, inner in enumerate(fn.node):
        n = NodeProto()
        n.op_type, n.domain = inner.op_type, inner.domain
        n.name = f"{prefix}{inner.name or k}"
        n.input.extend(mapped(i) for i in inner.input)
        n.output.extend(mapped(o) for o in inner.output)
        for a in inner.attribute:
            if a.HasField("ref_attr_name"):
                if a.ref_attr_name in attrs:
                    b = AttributeProto()
                    b.CopyFrom(attrs[a.ref_attr_name])
                    b.name = a.name
                    n.attribute.append(b)
            elif a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
                return []  # a body with control flow: not expanded (its subgraph names would need binding)
            else:
                n.attribute.append(a)
        out.append(n)
    return out


def to_engine_forms(model: onnx.ModelProto, supported: Collection[str], source: str,
                    reinfer: Callable[[onnx.ModelProto], onnx.ModelProto]) -> tuple[onnx.ModelProto, Rewrites]:
    """The shape-inferred ``model`` with every default-domain node in a form the engine reads (see above).

    Function ops are expanded first and ``reinfer`` (shape inference at the model's own opset, keeping what it
    knew) types the values of their bodies; the adapters then run on a fully typed graph, every node at the
    opset it was written at (a body's nodes at their function's).
    """
    version = default_opset(model)
    rewrites = Rewrites()
    if version is None:
        return model, rewrites
    out = onnx.ModelProto()
    out.CopyFrom(model)
    versions: dict[str, int] = {}  # expanded body nodes (uniquely named) -> their function's opset
    try:
        _expand_graph(out.graph, version, supported, rewrites, versions)
        if rewrites.expanded:
            out = reinfer(out)
        contexts: list[_Context] = []
        _adapt_graph(out.graph, version, supported, rewrites, versions, contexts)
    except ModelFormatError as exc:
        raise exc.located(source) from exc.__cause__
    if version != ENGINE_OPSET:
        for o in out.opset_import:
            if o.domain in DEFAULT_DOMAINS:
                o.version = ENGINE_OPSET
    top = contexts[0]
    if top.made_values or top.rank_hints:
        for name, (elem, rank) in top.rank_hints.items():
            out.graph.value_info.append(helper.make_tensor_value_info(name, elem, [None] * rank))
        out = reinfer(out)  # now at opset 17: what the adapters computed
    return out, rewrites


def _types(graph: GraphProto) -> dict[str, onnx.TypeProto]:
    types = {v.name: v.type for v in itertools.chain(graph.input, graph.value_info, graph.output)}
    for init in graph.initializer:
        if init.name not in types:
            types[init.name] = helper.make_tensor_type_proto(init.data_type, list(init.dims))
    return types


# what other rewriting steps of the converter (export.lowering) build on
RewriteContext = _Context
value_types = _types


def _subgraphs(node: NodeProto) -> list[GraphProto]:
    out = []
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            out.append(a.g)
        elif a.type == AttributeProto.GRAPHS:
            out.extend(a.graphs)
    return out


def _expand_graph(graph: GraphProto, version: int, supported: Collection[str], rewrites: Rewrites,
                  versions: dict[str, int]) -> None:
    ctx = _Context(graph, _types(graph))
    nodes: list[NodeProto] = []
    for node in graph.node:
        nodes.extend(_expand_node(node, version, ctx, supported, rewrites, versions, 0))
    for node in nodes:
        for g in _subgraphs(node):  # control-flow bodies share the model's opset
            _expand_graph(g, version, supported, rewrites, versions)
    del graph.node[:]
    graph.node.extend(nodes)


def _expand_node(node: NodeProto, version: int, ctx: _Context, supported: Collection[str], rewrites: Rewrites,
                 versions: dict[str, int], depth: int) -> list[NodeProto]:
    if node.domain not in DEFAULT_DOMAINS or node.op_type == "Constant" or node.op_type in supported:
        return [node]
    if depth >= _MAX_EXPANSION_DEPTH:
        raise ModelFormatError(f"function ops nest more than {_MAX_EXPANSION_DEPTH} deep", kind="opset",
                               where=node_label(node.name, node.op_type))
    fn_body = _function_body(node, version, [ctx.types.get(i) if i else None for i in node.input])
    if fn_body is None:
        return [node]  # no function: the support check names it
    body = _expand(node, fn_body, defs.get_schema(node.op_type, version, node.domain), ctx)
    if not body:
        return [node]
    inner_version = default_opset_of(fn_body) or version
    inner = Rewrites()
    out: list[NodeProto] = []
    for n in body:
        versions[n.name] = inner_version
        ctx.note_constant(n)
        out.extend(_expand_node(n, inner_version, ctx, supported, inner, versions, depth + 1))
        _infer_node_types(n, inner_version, ctx)  # a context-dependent function further on needs its input types
    if any(n.op_type not in supported and n.op_type != "Constant" for n in out):
        # the body needs an op the engine lacks too: the support check should name the op the model uses
        return [node]
    rewrites.expanded.update(inner.expanded)
    rewrites.expanded[node.op_type] += 1
    return out


def _infer_node_types(node: NodeProto, version: int, ctx: _Context) -> None:
    """The output types of one body node, from its inputs' (ONNX's per-node inference), into ``ctx.types``."""
    inputs = [i for i in node.input if i]
    if node.domain not in DEFAULT_DOMAINS or any(i not in ctx.types for i in inputs):
        return
    try:
        schema = defs.get_schema(node.op_type, version, node.domain)
        data = {i: numpy_helper.from_array(ctx.consts[i], i) for i in inputs if i in ctx.consts}
        out = onnx.shape_inference.infer_node_outputs(schema, node, {i: ctx.types[i] for i in inputs}, data, {},
                                                      [helper.make_opsetid("", version)])
    except Exception:  # noqa: BLE001 - a node ONNX cannot type here is typed by the inference after expansion
        return
    for name, t in out.items():
        ctx.types.setdefault(name, t)


def _adapt_graph(graph: GraphProto, version: int, supported: Collection[str], rewrites: Rewrites,
                 versions: dict[str, int], contexts: list[_Context]) -> None:
    ctx = _Context(graph, _types(graph))
    contexts.append(ctx)
    nodes: list[NodeProto] = []
    for node in graph.node:
        ctx.note_constant(node)
        nodes.extend(_adapt_node(node, versions.get(node.name, version), ctx, supported, rewrites))
    for node in nodes:
        for g in _subgraphs(node):
            _adapt_graph(g, version, supported, rewrites, versions, contexts)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(ctx.new_initializers)


def _adapt_node(node: NodeProto, version: int, ctx: _Context, supported: Collection[str],
                rewrites: Rewrites) -> list[NodeProto]:
    if node.domain not in DEFAULT_DOMAINS or node.op_type == "Constant":
        return [node]
    since = _since(node.op_type, version, node.domain)
    if since is None or since <= ENGINE_OPSET:
        return [node]  # the opset-17 semantics (or an op ONNX does not define: the support check names it)
    adapt = ADAPTERS.get(node.op_type)
    if adapt is not None:
        rewrites.adapted[node.op_type] += 1
        return adapt(node, ctx, version)
    earlier = _since(node.op_type, ENGINE_OPSET, node.domain)
    if node.op_type in supported and earlier is not None \
            and _signature(node.op_type, since) != _signature(node.op_type, earlier):
        raise _refuse(node, f"{node.op_type} as changed at opset {since} (no mapping to its opset-{ENGINE_OPSET} "
                            "form)", version)
    return [node]  # born after 17 (Gelu-20), or changed only its types


def default_opset_of(fn: FunctionProto) -> int | None:
    return next((o.version for o in fn.opset_import if o.domain in DEFAULT_DOMAINS), None)


def _signature(op: str, version: int) -> tuple[object, ...]:
    s = defs.get_schema(op, version)
    return (tuple(i.name for i in s.inputs), tuple(o.name for o in s.outputs), tuple(sorted(s.attributes)))


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
