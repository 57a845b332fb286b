"""Writer and reader of the engine model file (``.slm``), version 1.0: see engine/FORMAT.md.

The writer serializes an optimized IR graph; the reader parses a file back into
a summary (header, tensors, nodes, metadata) and checks the same rules the C++
loader checks, which makes it the round-trip test of the writer.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from onnx import TensorProto

from export.atomic import write_atomically
from export.ir import Graph, Value, dtype_name, dtype_of_numpy, node_reads, numpy_of_dtype

MAGIC = b"SLIMLAB\0"
VERSION = (1, 0)
HEADER_SIZE = 64
ALIGN = 64
FLAG_FP16_WEIGHTS = 1
MAX_RANK = 8
MAX_STR = 65535

KIND_VALUE, KIND_INPUT, KIND_CONST, KIND_CAPTURED = 0, 1, 2, 3
ATTR_INT, ATTR_FLOAT, ATTR_STRING, ATTR_INTS, ATTR_FLOATS, ATTR_GRAPH = 1, 2, 3, 4, 5, 6
MAX_GRAPH_DEPTH = 16  # the engine's nesting limit for graph attributes

# dtypes the format can carry (FORMAT.md "tensor := ... u8 dtype")
FORMAT_DTYPES = {
    TensorProto.FLOAT,
    TensorProto.UINT8,
    TensorProto.INT8,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.BOOL,
    TensorProto.FLOAT16,
    TensorProto.INT4,
}
_HEADER = struct.Struct("<8sHHIQQQQQII")
assert _HEADER.size == HEADER_SIZE


class EngineFileError(ValueError):
    """A graph that cannot be written, or a file that violates FORMAT.md."""


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


# ---- writing -----------------------------------------------------------------------------------
class _Out:
    def __init__(self) -> None:
        self.buf = io.BytesIO()

    def pack(self, fmt: str, *vals: Any) -> None:
        self.buf.write(struct.pack("<" + fmt, *vals))

    def str(self, s: str, what: str) -> None:
        data = s.encode("utf-8")
        if len(data) > MAX_STR:
            raise EngineFileError(f"{what} '{s[:40]}...' is longer than {MAX_STR} bytes")
        self.pack("I", len(data))
        self.buf.write(data)


def _storage(arr: np.ndarray, dtype: int, fp16: bool) -> tuple[int, bytes]:
    if dtype == TensorProto.INT4:
        raise EngineFileError("int4 constants are not produced by this converter yet")
    if fp16 and dtype == TensorProto.FLOAT:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is detected just below
            half = arr.astype(np.float16)
        # a value outside fp16 range would silently become inf: keep such a tensor in fp32
        if np.array_equal(np.isfinite(half), np.isfinite(arr)):
            return TensorProto.FLOAT16, half.astype("<f2").tobytes()
    return dtype, np.ascontiguousarray(arr.astype(numpy_of_dtype(dtype).newbyteorder("<"))).tobytes()


def _file_attrs(op_type: str, attrs: dict[str, Any], node_name: str) -> dict[str, Any]:
    """ONNX attributes as FORMAT.md stores them: a tensor-valued attribute has no encoding, and the one op that
    takes one (ConstantOfShape's one-element `value`) stores it as a scalar plus its `dtype`."""
    value = attrs.get("value")
    if op_type != "ConstantOfShape" or not isinstance(value, np.ndarray):
        return attrs
    if value.size != 1:
        raise EngineFileError(f"node '{node_name}': ConstantOfShape's value must have one element, "
                              f"got {value.size}")
    out = dict(attrs)
    code = dtype_of_numpy(value.dtype)
    item = value.reshape(-1)[0]
    out["value"] = int(item) if value.dtype.kind in "iub" else float(item)
    out["dtype"] = code
    return out


class _Weights:
    """The weights section as it grows; subgraph constants live in it too."""

    def __init__(self, fp16: bool) -> None:
        self.buf = bytearray()
        self.fp16 = fp16
        self.any_fp16 = False

    def add(self, arr: np.ndarray, dtype: int) -> tuple[int, int, int]:
        storage, data = _storage(arr, dtype, self.fp16)
        self.any_fp16 |= storage == TensorProto.FLOAT16
        offset = _align(len(self.buf))
        self.buf.extend(b"\0" * (offset - len(self.buf)))
        self.buf.extend(data)
        return storage, offset, len(data)


def _attr(out: _Out, name: str, value: Any, node_name: str, weights: _Weights | None = None,
          scopes: list[Graph] | None = None) -> None:
    out.str(name, "attribute name")
    if isinstance(value, Graph):
        if weights is None or scopes is None:
            raise EngineFileError(f"node '{node_name}': graph attribute '{name}' outside a graph")
        if len(scopes) > MAX_GRAPH_DEPTH:
            raise EngineFileError(f"node '{node_name}': subgraphs nest deeper than {MAX_GRAPH_DEPTH} levels")
        out.pack("B", ATTR_GRAPH)
        _write_graph(out, value, weights, scopes)
    elif isinstance(value, bool | int | np.integer):
        out.pack("Bq", ATTR_INT, int(value))
    elif isinstance(value, float | np.floating):
        out.pack("Bf", ATTR_FLOAT, float(value))
    elif isinstance(value, str):
        out.pack("B", ATTR_STRING)
        out.str(value, f"attribute {name}")
    elif isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        # FORMAT.md has no list-of-strings type: the names (LSTM/GRU/RNN `activations`) are joined with ','
        if any("," in v or not v for v in value):
            raise EngineFileError(f"node '{node_name}': attribute '{name}' has an empty name or one with ','")
        out.pack("B", ATTR_STRING)
        out.str(",".join(value), f"attribute {name}")
    elif isinstance(value, list | tuple) and all(isinstance(v, int | np.integer) for v in value) and value:
        out.pack(f"BI{len(value)}q", ATTR_INTS, len(value), *(int(v) for v in value))
    elif isinstance(value, list | tuple) and all(isinstance(v, float | int | np.number) for v in value):
        # an empty list is written as floats: only activation_params is ever empty
        out.pack(f"BI{len(value)}f", ATTR_FLOATS, len(value), *(float(v) for v in value))
    else:
        raise EngineFileError(
            f"node '{node_name}': attribute '{name}' of type {type(value).__name__} has no encoding in the "
            "engine file (int, float, string, ints, floats, graph only)"
        )


def _ordered_tensors(graph: Graph, captures: list[str]) -> list[str]:
    """Graph inputs, captures, constants, then node outputs in node order (a stable, readable order).

    Constants a subgraph reads from this graph are listed here (the subgraph captures them)."""
    local = graph.defined()
    consts = sorted({i for n in graph.nodes for i in node_reads(n)
                     if i in local and i in graph.values and graph.values[i].is_const})
    produced = [o for n in graph.nodes for o in n.outputs if o]
    return [*graph.inputs, *captures, *consts, *produced]


def _lookup(name: str, scopes: list[Graph]) -> Value | None:
    for g in scopes:
        if name in g.values:
            return g.values[name]
    return None


# Ranks of the outputs of ops whose omitted outputs may precede a used one (LSTM's Y omitted, Y_h read):
# the file has no "omitted" marker for outputs, so such an output is written as an unread tensor.
_OUTPUT_RANKS = {"LSTM": (4, 3, 3), "GRU": (4, 3), "RNN": (4, 3)}


def _name_omitted_outputs(graph: Graph) -> Graph:
    """A copy of ``graph`` where an omitted output before a used one of a recurrent op is an unread tensor."""
    if not any(n.op_type in _OUTPUT_RANKS and "" in n.outputs[:-1] for n in graph.nodes):
        return graph
    values = dict(graph.values)
    nodes = []
    for n in graph.nodes:
        outs = list(n.outputs)
        while outs and not outs[-1]:
            outs.pop()
        if n.op_type in _OUTPUT_RANKS and "" in outs:
            dtype = graph.values[n.inputs[0]].dtype
            for k, o in enumerate(outs):
                if o:
                    continue
                name = f"{n.name}:unused_output{k}"
                while name in values:
                    name += "_"
                values[name] = Value(name, dtype, [None] * _OUTPUT_RANKS[n.op_type][k])
                outs[k] = name
            n = replace(n, outputs=outs)
        nodes.append(n)
    return replace(graph, values=values, nodes=nodes)


def serialize(graph: Graph, weights: str = "fp32", meta: dict[str, str] | None = None) -> bytes:
    """The engine file bytes for ``graph`` (optimized, topologically sorted)."""
    if weights not in ("fp32", "fp16"):
        raise EngineFileError(f"weights must be 'fp32' or 'fp16', got '{weights}'")
    graph = _name_omitted_outputs(graph)
    g = _Out()
    w = _Weights(weights == "fp16")
    _write_graph(g, graph, w, [])
    meta = dict(meta or {})
    g.pack("I", len(meta))
    for k in sorted(meta):
        g.str(k, "metadata key")
        g.str(str(meta[k]), f"metadata '{k}'")

    graph_bytes = g.buf.getvalue()
    weights_buf, any_fp16 = w.buf, w.any_fp16
    weights_offset = _align(HEADER_SIZE + len(graph_bytes))
    file_size = weights_offset + len(weights_buf)
    header = _HEADER.pack(
        MAGIC,
        *VERSION,
        FLAG_FP16_WEIGHTS if any_fp16 else 0,
        file_size,
        HEADER_SIZE,
        len(graph_bytes),
        weights_offset,
        len(weights_buf),
        zlib.crc32(graph_bytes),
        zlib.crc32(bytes(weights_buf)),
    )
    pad = b"\0" * (weights_offset - HEADER_SIZE - len(graph_bytes))
    return header + graph_bytes + pad + bytes(weights_buf)


def _write_graph(g: _Out, graph: Graph, weights: _Weights, scopes: list[Graph]) -> None:
    """tensors, inputs, outputs, nodes of ``graph``; ``scopes`` are the enclosing graphs (innermost first)
    of a subgraph, whose reads of their values are written as kind-3 (captured) tensors."""
    sub = bool(scopes)
    captures = graph.outer_reads() if sub else []
    names = _ordered_tensors(graph, captures)
    index = {n: i for i, n in enumerate(names)}
    if len(index) != len(names):
        raise EngineFileError(f"tensor names are not unique in {'a subgraph' if sub else 'the graph'}")
    for o in graph.outputs:
        if o not in index or index[o] < len(graph.inputs) + len(captures) or graph.values[o].is_const:
            raise EngineFileError(f"graph output '{o}' is not produced by a node")
    g.pack("I", len(names))
    for name in names:
        captured = name in captures
        v = _lookup(name, scopes) if captured else graph.values[name]
        if v is None:
            raise EngineFileError(f"a subgraph reads '{name}', which no enclosing graph defines")
        kind = (KIND_CAPTURED if captured else KIND_INPUT if name in graph.inputs else KIND_CONST if v.is_const
                else KIND_VALUE)
        if not v.dtype:
            raise EngineFileError(f"tensor '{name}' has no element type (shape inference could not type it)")
        if v.dtype not in FORMAT_DTYPES:
            raise EngineFileError(f"tensor '{name}' has dtype {dtype_name(v.dtype)}, which the engine file "
                                  "cannot store")
        shape = v.shape
        if shape is None:
            if kind == KIND_CONST or (not sub and (kind == KIND_INPUT or name in graph.outputs)):
                raise EngineFileError(f"tensor '{name}' has an unknown rank (shape inference could not type it)")
            # the declared shape of an interior value (or of anything in a subgraph) is informative only:
            # the engine infers shapes when it plans (FORMAT.md); ONNX's inference leaves some control-flow
            # results untyped
            shape = []
        if len(shape) > MAX_RANK:
            raise EngineFileError(f"tensor '{name}' has rank {len(shape)} > {MAX_RANK}")
        g.str(name, "tensor name")
        g.pack("BBH", v.dtype, kind, 0)
        dims = [d if isinstance(d, int) else -1 for d in shape]
        g.pack(f"I{len(dims)}q", len(dims), *dims)
        for d in shape:
            g.str(d if isinstance(d, str) else "", "dim name")
        if kind == KIND_CONST:
            storage, offset, size = weights.add(v.const, v.dtype)
            g.pack("B7xQQ", storage, offset, size)
    g.pack(f"I{len(graph.inputs)}I", len(graph.inputs), *(index[i] for i in graph.inputs))
    g.pack(f"I{len(graph.outputs)}I", len(graph.outputs), *(index[o] for o in graph.outputs))
    g.pack("I", len(graph.nodes))
    for n in graph.nodes:
        if n.domain not in ("", "ai.onnx"):
            raise EngineFileError(f"node '{n.name}' is in custom domain '{n.domain}'")
        g.str(n.op_type, "op type")
        g.str(n.name, "node name")
        g.pack(f"I{len(n.inputs)}i", len(n.inputs), *(index[i] if i else -1 for i in n.inputs))
        outs = [o for o in n.outputs]
        if "" in outs:
            # FORMAT.md has no "omitted output" marker; trailing unused outputs are dropped
            while outs and not outs[-1]:
                outs.pop()
            if "" in outs:
                raise EngineFileError(f"node '{n.name}' has an omitted output in the middle of its outputs")
        g.pack(f"I{len(outs)}I", len(outs), *(index[o] for o in outs))
        attrs = _file_attrs(n.op_type, n.attrs, n.name)
        g.pack("I", len(attrs))
        for key in sorted(attrs):
            _attr(g, key, attrs[key], n.name, weights, [graph, *scopes])


def write_engine_file(graph: Graph, path: str | os.PathLike[str], weights: str = "fp32",
                      meta: dict[str, str] | None = None) -> Path:
    """Serialize and write atomically (temp file in the same folder, then rename)."""
    return write_atomically(path, serialize(graph, weights, meta))


# ---- reading -----------------------------------------------------------------------------------
@dataclass
class TensorInfo:
    name: str
    dtype: int
    kind: int
    shape: list[int]
    dim_names: list[str]
    storage_dtype: int | None = None
    data_offset: int | None = None  # relative to weights_offset
    data_size: int | None = None


@dataclass
class NodeInfo:
    op_type: str
    name: str
    inputs: list[int]
    outputs: list[int]
    attrs: dict[str, Any]


@dataclass
class SubgraphInfo:
    """A graph attribute as read back: its tensors (kind 3 = captured from the enclosing graph), nodes."""

    tensors: list[TensorInfo] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    nodes: list[NodeInfo] = field(default_factory=list)


@dataclass
class EngineFileSummary:
    version: tuple[int, int]
    flags: int
    file_size: int
    graph_offset: int
    graph_size: int
    weights_offset: int
    weights_size: int
    graph_crc32: int
    weights_crc32: int
    tensors: list[TensorInfo] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    nodes: list[NodeInfo] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
        return counts

    def constant(self, name: str) -> np.ndarray:
        """A constant's data as stored (fp16 weights stay fp16), read from the file."""
        t = next((t for t in self.tensors if t.name == name and t.kind == KIND_CONST), None)
        if t is None or self.path is None:
            raise KeyError(f"no constant named '{name}'")
        with open(self.path, "rb") as f:
            f.seek(self.weights_offset + t.data_offset)
            raw = f.read(t.data_size)
        return np.frombuffer(raw, numpy_of_dtype(t.storage_dtype).newbyteorder("<")).reshape(t.shape)


class _In:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise EngineFileError(f"{self.what}: truncated at byte {self.pos}")
        vals = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return vals

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def count(self, what: str, min_bytes_each: int) -> int:
        n = self.one("I")
        # no count may promise more items than the remaining bytes can hold
        if n * min_bytes_each > len(self.data) - self.pos:
            raise EngineFileError(f"{self.what}: {what} count {n} exceeds the section size")
        return n

    def str(self) -> str:
        n = self.one("I")
        if n > MAX_STR or self.pos + n > len(self.data):
            raise EngineFileError(f"{self.what}: bad string length {n} at byte {self.pos - 4}")
        s = self.data[self.pos : self.pos + n].decode("utf-8")
        self.pos += n
        return s


def _read_attr(r: _In, depth: int = 0) -> tuple[str, Any]:
    name, kind = r.str(), r.one("B")
    if kind == ATTR_GRAPH:
        if depth >= MAX_GRAPH_DEPTH:
            raise EngineFileError(f"attribute '{name}': subgraphs nest deeper than {MAX_GRAPH_DEPTH} levels")
        sub = SubgraphInfo()
        _parse_body(sub, r, depth + 1)
        _validate_body(sub, f"subgraph '{name}'")
        return name, sub
    if kind == ATTR_INT:
        return name, r.one("q")
    if kind == ATTR_FLOAT:
        return name, r.one("f")
    if kind == ATTR_STRING:
        return name, r.str()
    if kind in (ATTR_INTS, ATTR_FLOATS):
        n = r.count(f"attribute {name} length", 8 if kind == ATTR_INTS else 4)
        return name, list(r.take(f"{n}{'q' if kind == ATTR_INTS else 'f'}"))
    raise EngineFileError(f"attribute '{name}': unknown type {kind}")


def _parse_graph(s: EngineFileSummary, r: _In) -> None:
    _parse_body(s, r, 0)
    s.meta = {r.str(): r.str() for _ in range(r.count("metadata", 8))}
    if r.pos != len(r.data):
        raise EngineFileError(f"graph section has {len(r.data) - r.pos} trailing bytes")


def _parse_body(s: EngineFileSummary | SubgraphInfo, r: _In, depth: int) -> None:
    for _ in range(r.count("tensor", 14)):
        name = r.str()
        dtype, kind, _reserved = r.take("BBH")
        rank = r.one("I")
        if rank > MAX_RANK:
            raise EngineFileError(f"tensor '{name}': rank {rank} > {MAX_RANK}")
        t = TensorInfo(name, dtype, kind, list(r.take(f"{rank}q")), [r.str() for _ in range(rank)])
        if kind == KIND_CONST:
            t.storage_dtype, t.data_offset, t.data_size = r.take("B7xQQ")
        s.tensors.append(t)
    s.inputs = list(r.take(f"{r.count('input', 4)}I"))
    s.outputs = list(r.take(f"{r.count('output', 4)}I"))
    for _ in range(r.count("node", 20)):
        op, name = r.str(), r.str()
        ins = list(r.take(f"{r.count('node input', 4)}i"))
        outs = list(r.take(f"{r.count('node output', 4)}I"))
        attrs = dict(_read_attr(r, depth) for _ in range(r.count("attribute", 5)))
        s.nodes.append(NodeInfo(op, name, ins, outs, attrs))
        if depth == 0 and any(t.kind == KIND_CAPTURED for t in s.tensors):
            raise EngineFileError("kind-3 (captured) tensors exist only in subgraphs")


def _validate_body(s: SubgraphInfo, what: str) -> None:
    """A subgraph's structure: indices in range, kinds, every value produced once before it is read."""
    n = len(s.tensors)
    if len({t.name for t in s.tensors}) != n:
        raise EngineFileError(f"{what}: tensor names are not unique")
    for i in s.inputs:
        if i >= n or s.tensors[i].kind != KIND_INPUT:
            raise EngineFileError(f"{what}: input index {i} is not a kind-1 tensor")
    available = {i for i, t in enumerate(s.tensors) if t.kind in (KIND_INPUT, KIND_CONST, KIND_CAPTURED)}
    for nd in s.nodes:
        if any(i != -1 and i not in available for i in nd.inputs):
            raise EngineFileError(f"{what}: node '{nd.name}' reads a tensor before it is produced")
        for o in nd.outputs:
            if o >= n or s.tensors[o].kind != KIND_VALUE or o in available:
                raise EngineFileError(f"{what}: node '{nd.name}' output {o} is not a fresh kind-0 tensor")
            available.add(o)
    if any(o >= n or s.tensors[o].kind != KIND_VALUE or o not in available for o in s.outputs):
        raise EngineFileError(f"{what}: an output is not produced by a node")


def _storage_size(t: TensorInfo) -> int:
    numel = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
    if t.storage_dtype == TensorProto.INT4:
        return (numel + 1) // 2
    return numel * numpy_of_dtype(t.storage_dtype).itemsize


def _validate(s: EngineFileSummary) -> None:
    n = len(s.tensors)
    names = [t.name for t in s.tensors]
    if len(set(names)) != n:
        raise EngineFileError("tensor names are not unique")
    if len({nd.name for nd in s.nodes}) != len(s.nodes) or any(not nd.name for nd in s.nodes):
        raise EngineFileError("node names are not unique and non-empty")
    for i in s.inputs:
        if i >= n or s.tensors[i].kind != KIND_INPUT:
            raise EngineFileError(f"graph input index {i} is not a kind-1 tensor")
    for t in s.tensors:
        if t.kind == KIND_CONST:
            if any(d < 0 for d in t.shape):
                raise EngineFileError(f"constant '{t.name}' has a non-static shape")
            if t.data_offset % ALIGN:
                raise EngineFileError(f"constant '{t.name}' data_offset {t.data_offset} is not 64-byte aligned")
            if t.data_offset + t.data_size > s.weights_size or t.data_size != _storage_size(t):
                raise EngineFileError(f"constant '{t.name}' data range/size is wrong")
    available = {i for i, t in enumerate(s.tensors) if t.kind in (KIND_INPUT, KIND_CONST)}
    produced: set[int] = set()
    for nd in s.nodes:
        for i in nd.inputs:
            if i != -1 and i not in available:
                raise EngineFileError(f"node '{nd.name}' reads tensor {i} before it is produced (not sorted?)")
        for o in nd.outputs:
            if o >= n or s.tensors[o].kind != KIND_VALUE or o in produced:
                raise EngineFileError(f"node '{nd.name}' output {o} is not a fresh kind-0 tensor")
            produced.add(o)
            available.add(o)
    values = {i for i, t in enumerate(s.tensors) if t.kind == KIND_VALUE}
    if values != produced:
        raise EngineFileError("some kind-0 tensors are not produced by any node")
    for o in s.outputs:
        if o not in produced:
            raise EngineFileError(f"graph output {o} is not produced by a node")


def load_engine_file_summary(path: str | os.PathLike[str]) -> EngineFileSummary:
    """Parse and validate an engine file; raises EngineFileError naming the violated rule."""
    path = Path(path)
    with open(path, "rb") as f:
        return _parse(f, path)


def _parse(f: BinaryIO, path: Path) -> EngineFileSummary:
    data = f.read()
    if len(data) < HEADER_SIZE:
        raise EngineFileError(f"{path}: {len(data)} bytes is shorter than the 64-byte header")
    magic, major, minor, flags, file_size, g_off, g_size, w_off, w_size, g_crc, w_crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise EngineFileError(f"{path}: bad magic {magic!r}")
    if major != VERSION[0]:
        raise EngineFileError(f"{path}: version_major {major} is not supported (expected {VERSION[0]})")
    if file_size != len(data):
        raise EngineFileError(f"{path}: file_size {file_size} != real size {len(data)}")
    if g_off != HEADER_SIZE or g_off + g_size > w_off or w_off % ALIGN or w_off + w_size != file_size:
        raise EngineFileError(f"{path}: inconsistent section offsets/sizes")
    if flags & ~FLAG_FP16_WEIGHTS:
        raise EngineFileError(f"{path}: unknown flag bits {flags:#x}")
    graph_bytes, weight_bytes = data[g_off : g_off + g_size], data[w_off:]
    if zlib.crc32(graph_bytes) != g_crc:
        raise EngineFileError(f"{path}: graph_crc32 mismatch")
    if zlib.crc32(weight_bytes) != w_crc:
        raise EngineFileError(f"{path}: weights_crc32 mismatch")
    s = EngineFileSummary((major, minor), flags, file_size, g_off, g_size, w_off, w_size, g_crc, w_crc, path=path)
    _parse_graph(s, _In(graph_bytes, f"{path} graph section"))
    _validate(s)
    return s
