"""Read and check an ONNX model before the converter works on it.

A model file is untrusted input: its bytes may be truncated or not ONNX at all, its graph may be cyclic or
read values nothing produces, its tensors may declare sizes they do not hold (or that no machine could hold),
and its external data may point anywhere on disk. Everything here runs before ``onnx.checker``, the opset
converter and shape inference, so that those (C++) tools and the optimization passes only ever see a
structurally sound graph, and so that every problem is a ``ModelFormatError`` naming the file, the problem
and the node, value or field, instead of a traceback from deep inside a library.
"""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NoReturn

import onnx
import onnx.defs
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from onnx import AttributeProto, TensorProto

from export.errors import ModelFormatError, node_label
from export.quantized import QUANTIZATION_KIND
from export.quantized.contrib import CONTRIB_OPS, DYNAMIC_OPS, MS_DOMAIN, check_node, dynamic_refusal
from export.support import UnsupportedOpsError

DEFAULT_DOMAINS = ("", "ai.onnx")
# the opset converter has adapters from opset 1 on (an op it cannot bring to 17 fails by name later, in
# export.opsets.upgrade); the top is whatever the installed onnx package knows how to check and convert
MIN_OPSET = 1
MAX_OPSET = onnx.defs.onnx_opset_version()
# IR 3 introduced opset imports; older files cannot say which operator set they use
MIN_IR_VERSION = 3
MAX_IR_VERSION = onnx.IR_VERSION
MAX_RANK = 8  # engine/FORMAT.md `dims`
INT64_MAX = 2**63 - 1
_ENGINE_MAGIC = b"SLIMLAB\0"


@dataclass(frozen=True)
class Limits:
    """Caps on what a model may make the converter read or allocate (bytes).

    ``max_file_bytes`` and ``max_total_tensor_bytes`` default to protobuf's 2 GiB ceiling: the converter
    holds the model as one message (the checker, opset converter and shape inference serialize it).
    """

    max_file_bytes: int = 2**31 - 1
    max_tensor_bytes: int = 2**30
    max_total_tensor_bytes: int = 2**31 - 1


# storage bits per element of the dtypes the converter can size; the rest (strings, 2- and 6-bit floats) are
# refused by name
_BITS = {
    TensorProto.FLOAT: 32, TensorProto.UINT8: 8, TensorProto.INT8: 8, TensorProto.UINT16: 16,
    TensorProto.INT16: 16, TensorProto.INT32: 32, TensorProto.INT64: 64, TensorProto.BOOL: 8,
    TensorProto.FLOAT16: 16, TensorProto.DOUBLE: 64, TensorProto.UINT32: 32, TensorProto.UINT64: 64,
    TensorProto.COMPLEX64: 64, TensorProto.COMPLEX128: 128, TensorProto.BFLOAT16: 16,
    TensorProto.FLOAT8E4M3FN: 8, TensorProto.FLOAT8E4M3FNUZ: 8, TensorProto.FLOAT8E5M2: 8,
    TensorProto.FLOAT8E5M2FNUZ: 8, TensorProto.UINT4: 4, TensorProto.INT4: 4,
}
for _name in ("FLOAT4E2M1", "FLOAT8E8M0"):  # newer onnx releases only
    if hasattr(TensorProto, _name):
        _BITS[getattr(TensorProto, _name)] = 4 if _name == "FLOAT4E2M1" else 8
_PACKED4 = {TensorProto.UINT4, TensorProto.INT4} | (
    {TensorProto.FLOAT4E2M1} if hasattr(TensorProto, "FLOAT4E2M1") else set()
)
_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")


def _typed_field(dtype: int, numel: int) -> tuple[str, int]:
    """Which typed field of TensorProto holds this dtype, and how many entries ``numel`` elements take."""
    if dtype in (TensorProto.FLOAT, TensorProto.COMPLEX64):
        return "float_data", numel * (2 if dtype == TensorProto.COMPLEX64 else 1)
    if dtype in (TensorProto.DOUBLE, TensorProto.COMPLEX128):
        return "double_data", numel * (2 if dtype == TensorProto.COMPLEX128 else 1)
    if dtype == TensorProto.INT64:
        return "int64_data", numel
    if dtype in (TensorProto.UINT32, TensorProto.UINT64):
        return "uint64_data", numel
    return "int32_data", (numel + 1) // 2 if dtype in _PACKED4 else numel


def dtype_text(code: int) -> str:
    try:
        return TensorProto.DataType.Name(code)
    except ValueError:
        return f"unknown dtype {code}"


def _dims_text(dims: list[int]) -> str:
    shown = ", ".join(str(d) for d in dims[:10])
    return f"[{shown}{', ...' if len(dims) > 10 else ''}]"


def _fail(source: str, problem: str, kind: str, where: str | None = None) -> NoReturn:
    raise ModelFormatError(problem, kind=kind, where=where, source=source)


# ---- bytes -> ModelProto -----------------------------------------------------------------------
def read_model(path: str | os.PathLike[str], limits: Limits) -> onnx.ModelProto:
    """Parse an ONNX file without following its external data (``validate_model`` resolves that safely)."""
    source = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _fail(source, "no such file", "not-found")
    except OSError as exc:
        _fail(source, f"cannot be read: {exc.strerror or exc}", "unreadable")
    if stat.S_ISDIR(st.st_mode):
        _fail(source, "is a directory, not an ONNX model file", "not-a-file")
    if not stat.S_ISREG(st.st_mode):
        # a pipe or a device would block or never end
        _fail(source, "is not a regular file (a device, pipe or socket?), not an ONNX model file", "not-a-file")
    if st.st_size == 0:
        _fail(source, "is empty (0 bytes), not an ONNX model", "empty")
    if st.st_size > limits.max_file_bytes:
        _fail(source, f"is {st.st_size} bytes, above the limit of {limits.max_file_bytes} bytes (one protobuf "
              "message; larger models keep their weights in external data files)", "too-large")
    try:
        with open(path, "rb") as f:
            data = f.read(st.st_size + 1)  # read(n) reserves n bytes up front: never ask for the cap itself
    except OSError as exc:
        _fail(source, f"cannot be read: {exc.strerror or exc}", "unreadable")
    if len(data) > limits.max_file_bytes:
        _fail(source, "grew past the size limit while it was read", "too-large")
    return parse_model_bytes(data, source)


def parse_model_bytes(data: bytes, source: str) -> onnx.ModelProto:
    if not data:
        _fail(source, "is empty (0 bytes), not an ONNX model", "empty")
    if data.startswith(_ENGINE_MAGIC):
        _fail(source, "is an engine model file (.slm), not an ONNX model", "not-onnx")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        _fail(source, f"is not an ONNX model: the protobuf does not decode ({exc}); the file is truncated, "
              "corrupt or of another format", "not-onnx")
    return model


def check_strings(model: onnx.ModelProto, source: str) -> None:
    """Every string field valid UTF-8: protobuf hands an invalid one over as ``bytes``, which no code that
    reads names expects (ONNX's proto2 schema lets such files parse)."""
    stack: list[tuple[Message, str]] = [(model, "model")]
    while stack:
        msg, path = stack.pop()
        for fd, value in msg.ListFields():
            if fd.type == FieldDescriptor.TYPE_STRING:
                items = value if _repeated(fd) else [value]
                for k, v in enumerate(items):
                    if isinstance(v, bytes):
                        at = f"{path}.{fd.name}" + (f"[{k}]" if _repeated(fd) else "")
                        _fail(source, f"is not valid UTF-8 ({v[:40]!r}); the file is corrupt", "not-onnx", at)
            elif fd.type == FieldDescriptor.TYPE_MESSAGE:
                if _repeated(fd):
                    stack.extend((m, f"{path}.{fd.name}[{k}]") for k, m in enumerate(value))
                else:
                    stack.append((value, f"{path}.{fd.name}"))


def _repeated(fd: FieldDescriptor) -> bool:
    # FieldDescriptor.label is deprecated in newer protobuf releases in favour of is_repeated
    is_repeated = getattr(fd, "is_repeated", None)
    return bool(is_repeated) if is_repeated is not None else fd.label == FieldDescriptor.LABEL_REPEATED


# ---- the checks ---------------------------------------------------------------------------------
class _Validator:
    def __init__(self, model: onnx.ModelProto, source: str, limits: Limits, base_dir: Path | None) -> None:
        self.model, self.graph, self.source = model, model.graph, source
        self.limits, self.base_dir = limits, base_dir
        self.total_bytes = 0
        self.opset = 0

    def fail(self, problem: str, kind: str, where: str | None = None) -> NoReturn:
        _fail(self.source, problem, kind, where)

    def label(self, index: int) -> str:
        node = self.graph.node[index]
        return node_label(node.name, node.op_type or "<no op type>", index)

    def label_at(self, index: int) -> str:
        """The label with the node's position too: node names need not be unique."""
        return f"{self.label(index)} at #{index}" if self.graph.node[index].name else self.label(index)

    # -- model header --
    def header(self) -> None:
        m = self.model
        if not m.HasField("graph"):
            self.fail("contains no graph (not an ONNX model, or truncated before its graph)", "no-graph")
        if m.ir_version == 0:
            self.fail("is missing (not an ONNX model, or truncated)", "ir-version", "ir_version")
        if not MIN_IR_VERSION <= m.ir_version <= MAX_IR_VERSION:
            age = "older" if m.ir_version < MIN_IR_VERSION else "newer"
            self.fail(f"{m.ir_version} is {age} than the supported range {MIN_IR_VERSION}..{MAX_IR_VERSION}",
                      "ir-version", "ir_version")
        seen: dict[str, int] = {}
        for entry in m.opset_import:
            domain = "" if entry.domain == "ai.onnx" else entry.domain
            if domain in seen:
                self.fail(f"imports domain '{entry.domain or 'ai.onnx'}' twice (versions {seen[domain]} and "
                          f"{entry.version})", "opset", "opset_import")
            seen[domain] = entry.version
        if "" not in seen:
            self.fail("imports no default-domain (ai.onnx) opset", "opset", "opset_import")
        version = seen[""]
        if not MIN_OPSET <= version <= MAX_OPSET:
            age = "older" if version < MIN_OPSET else "newer"
            self.fail(f"domain ai.onnx version {version} is {age} than the converter supports "
                      f"(ai.onnx {MIN_OPSET}..{MAX_OPSET})", "opset", "opset_import")
        self.opset = version

    # -- declared values --
    def value_type(self, info: onnx.ValueInfoProto, where: str, *, typed: bool) -> None:
        t = info.type
        which = t.WhichOneof("value")
        if which is None and not typed:
            return
        if which != "tensor_type":
            what = f"a {which.removesuffix('_type')}" if which else "nothing (it has no type)"
            self.fail(f"is declared as {what}; the engine handles tensors only", "type", where)
        tt = t.tensor_type
        elem = tt.elem_type
        if elem == TensorProto.STRING:
            self.fail("is a string tensor, which the engine does not support", "type", where)
        # onnx's own tools choke on an UNDEFINED element type wherever a type is given at all
        if elem not in TensorProto.DataType.values() or elem == TensorProto.UNDEFINED:
            self.fail(f"has element type {elem} ({dtype_text(elem)}), not a valid ONNX tensor type", "type",
                      where)
        if tt.HasField("shape"):
            self.shape(tt, where)
        elif typed:
            self.fail("declares no shape (ONNX requires one on graph inputs and outputs; unknown dims may be "
                      "left without a value)", "shape", where)

    def shape(self, tt: onnx.TypeProto.Tensor, where: str) -> None:
        dims = tt.shape.dim
        if len(dims) > MAX_RANK:
            self.fail(f"has rank {len(dims)}; the engine file allows at most {MAX_RANK}", "shape", where)
        numel = 1
        for i, d in enumerate(dims):
            if d.HasField("dim_value"):
                if d.dim_value < 0:
                    self.fail(f"dim {i} is {d.dim_value} (negative)", "shape", where)
                numel *= d.dim_value
        bits = _BITS.get(tt.elem_type, 8)
        if numel * bits // 8 > INT64_MAX:
            shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            self.fail(f"declares shape {shown}, whose byte size overflows int64", "shape", where)

    def declared_values(self) -> None:
        g = self.graph
        init_names = {t.name for t in g.initializer}
        names: set[str] = set()
        for i, info in enumerate(g.input):
            where = f"graph input '{info.name}'" if info.name else f"graph input #{i}"
            if not info.name:
                self.fail("has an empty name", "name", where)
            if info.name in names:
                self.fail("is listed twice", "name", where)
            names.add(info.name)
            self.value_type(info, where, typed=True)
        if not g.output:
            self.fail("graph has no outputs", "no-outputs")
        outputs: set[str] = set()
        for i, info in enumerate(g.output):
            where = f"graph output '{info.name}'" if info.name else f"graph output #{i}"
            if not info.name:
                self.fail("has an empty name", "name", where)
            if info.name in outputs:
                self.fail("is listed twice", "name", where)
            outputs.add(info.name)
            self.value_type(info, where, typed=True)
        # value_info is optional advice for shape inference; for a graph input or constant it can only
        # contradict the authoritative declaration, so it is dropped rather than trusted
        keep = [v for v in g.value_info if v.name not in names and v.name not in init_names]
        seen: set[str] = set()
        for info in keep:
            where = f"value_info '{info.name}'"
            if not info.name:
                self.fail("has an empty name", "name", "value_info")
            if info.name in seen:
                self.fail("is declared twice", "name", where)
            seen.add(info.name)
            self.value_type(info, where, typed=False)
        if len(keep) != len(g.value_info):
            del g.value_info[:]
            g.value_info.extend(keep)
        if g.sparse_initializer:
            self.fail(f"graph has sparse initializers ('{g.sparse_initializer[0].values.name}'), which the "
                      "converter does not support", "unsupported-tensor")

    # -- nodes --
    def node_kinds(self) -> None:
        """Domains and unknown ops, each reported for every node at once (control flow: export/README.md)."""
        bad_domains: dict[str, list[str]] = {}
        unsupported: dict[str, list[str]] = {}
        reasons: dict[str, str] = {}
        imported = {"" if o.domain == "ai.onnx" else o.domain for o in self.model.opset_import}
        for i, node in enumerate(self.graph.node):
            if not node.op_type:
                self.fail("has no op_type", "node", self.label(i))
            if node.op_type in DYNAMIC_OPS and node.domain in (*DEFAULT_DOMAINS, MS_DOMAIN):
                self.fail(dynamic_refusal(node.op_type), QUANTIZATION_KIND, self.label(i))
            if node.domain == MS_DOMAIN and node.op_type in CONTRIB_OPS:
                if MS_DOMAIN not in imported:
                    self.fail(f"is in domain '{MS_DOMAIN}', which the model does not import", "domain",
                              self.label(i))
                continue  # ONNX Runtime's quantized ops: lowered to QDQ (export.quantized.qoperator)
            if node.domain not in DEFAULT_DOMAINS:
                bad_domains.setdefault(node.domain, []).append(self.label(i))
                continue
            name = node.name or f"#{i}"
            if not onnx.defs.has(node.op_type, self.opset, ""):
                unsupported.setdefault(node.op_type, []).append(name)
                reasons[node.op_type] = f"not an ONNX operator at opset {self.opset}"
        if bad_domains:
            parts = []
            for domain, labels in sorted(bad_domains.items()):
                note = "" if domain in imported else ", not imported by the model"
                parts.append(f"domain '{domain}'{note}: {', '.join(labels[:8])}"
                             + (f" and {len(labels) - 8} more" if len(labels) > 8 else ""))
            self.fail("nodes in domains the converter does not support (it reads the default ONNX domain "
                      f"ai.onnx, and of {MS_DOMAIN} the quantized ops {', '.join(sorted(CONTRIB_OPS))}): "
                      f"{'; '.join(parts)}", "domain")
        if unsupported:
            raise UnsupportedOpsError(unsupported, {}, reasons=reasons, source=self.source)

    def node_schemas(self) -> Iterator[tuple[str, onnx.TensorProto]]:
        """Arity and attributes against the op's schema at the model's opset; yields the attribute tensors."""
        for i, node in enumerate(self.graph.node):
            where = self.label(i)
            if node.domain == MS_DOMAIN:
                yield from self.contrib_node(node, where)
                continue
            schema = onnx.defs.get_schema(node.op_type, self.opset, "")
            if schema.deprecated:
                self.fail(f"op {node.op_type} is deprecated at opset {self.opset}", "opset", where)
            self.arity(node, schema, where)
            seen: set[str] = set()
            for a in node.attribute:
                if not a.name:
                    self.fail("has an attribute with an empty name", "attribute", where)
                if a.name in seen:
                    self.fail(f"has attribute '{a.name}' twice", "attribute", where)
                seen.add(a.name)
                yield from self.attribute(node, a, schema, where)
            missing = [n for n, spec in schema.attributes.items() if spec.required and n not in seen]
            if missing:
                self.fail(f"lacks required attribute '{missing[0]}'", "attribute", where)
            if node.op_type == "Constant":
                self.constant_node(node, where)

    def contrib_node(self, node: onnx.NodeProto, where: str) -> Iterator[tuple[str, onnx.TensorProto]]:
        """A com.microsoft quantized op against export.quantized.contrib (onnx has no schema for it)."""
        if len(node.output) != 1 or not node.output[0]:
            self.fail(f"has {len(node.output)} outputs; {MS_DOMAIN} {node.op_type} produces 1", "arity", where)
        seen: dict[str, int] = {}
        for a in node.attribute:
            if not a.name or a.name in seen or a.ref_attr_name:
                self.fail(f"has an empty, repeated or referring attribute '{a.name}'", "attribute", where)
            seen[a.name] = a.type
        problem = check_node(node.op_type, list(node.input), seen)
        if problem:
            self.fail(problem, "arity" if "input" in problem else "attribute", where)
        for a in node.attribute:
            if a.type == AttributeProto.STRING:
                try:
                    a.s.decode("utf-8")
                except UnicodeDecodeError:
                    self.fail("is not valid UTF-8", "attribute", f"{where}: attribute '{a.name}'")
        return iter(())

    def arity(self, node: onnx.NodeProto, schema: onnx.defs.OpSchema, where: str) -> None:
        n_in, n_out = len(node.input), len(node.output)
        if not schema.min_input <= n_in <= schema.max_input:
            self.fail(f"has {n_in} inputs; {node.op_type}-{schema.since_version} takes "
                      f"{_range_text(schema.min_input, schema.max_input)}", "arity", where)
        if not schema.min_output <= n_out <= schema.max_output:
            self.fail(f"has {n_out} outputs; {node.op_type}-{schema.since_version} produces "
                      f"{_range_text(schema.min_output, schema.max_output)}", "arity", where)
        optional = onnx.defs.OpSchema.FormalParameterOption.Optional
        for names, params, what in ((node.input, schema.inputs, "input"), (node.output, schema.outputs, "output")):
            for k, name in enumerate(names):
                param = params[min(k, len(params) - 1)] if params else None
                if not name and param is not None and param.option != optional:
                    self.fail(f"{what} #{k} ('{param.name}') is required but empty", "arity", where)

    def attribute(self, node: onnx.NodeProto, a: onnx.AttributeProto, schema: onnx.defs.OpSchema,
                  where: str) -> Iterator[tuple[str, onnx.TensorProto]]:
        at = f"{where}: attribute '{a.name}'"
        if a.ref_attr_name:
            self.fail("refers to a function attribute (only valid inside functions)", "attribute", at)
        spec = schema.attributes.get(a.name)
        if spec is None:
            self.fail(f"is not an attribute of {node.op_type}-{schema.since_version}", "attribute", at)
        expected = int(spec.type)
        if a.type != expected:
            self.fail(f"has type {_attr_type(a.type)}, {node.op_type} expects {_attr_type(expected)}",
                      "attribute", at)
        if a.type in (AttributeProto.SPARSE_TENSOR, AttributeProto.SPARSE_TENSORS, AttributeProto.TYPE_PROTO,
                      AttributeProto.TYPE_PROTOS):
            self.fail(f"is a {_attr_type(a.type)}, which the converter does not support", "unsupported-tensor", at)
        for s in [a.s] if a.type == AttributeProto.STRING else list(a.strings):
            try:
                s.decode("utf-8")
            except UnicodeDecodeError:
                self.fail("is not valid UTF-8", "attribute", at)
        if a.type == AttributeProto.TENSOR:
            if not a.HasField("t"):
                self.fail("is a TENSOR attribute without a tensor", "attribute", at)
            yield at, a.t
        for k, t in enumerate(a.tensors):
            yield f"{at} tensor #{k}", t

    def constant_node(self, node: onnx.NodeProto, where: str) -> None:
        kinds = [a.name for a in node.attribute]
        if len(kinds) != 1:
            self.fail(f"must have exactly one value attribute, has {kinds or 'none'}", "attribute", where)
        if kinds[0] in ("value_string", "value_strings"):
            self.fail("is a string constant, which the engine does not support", "unsupported-tensor", where)

    # -- tensors --
    def tensors(self, attribute_tensors: list[tuple[str, onnx.TensorProto]]) -> None:
        names: set[str] = set()
        for i, t in enumerate(self.graph.initializer):
            where = f"initializer '{t.name}'" if t.name else f"initializer #{i}"
            if not t.name:
                self.fail("has an empty name", "name", where)
            if t.name in names:
                self.fail("is defined twice", "produced-twice", where)
            names.add(t.name)
            self.tensor(t, where)
        for where, t in attribute_tensors:
            self.tensor(t, where)

    def tensor(self, t: onnx.TensorProto, where: str) -> None:
        """Size, data and location of one tensor, refused before anything the size of its data is made."""
        dtype = t.data_type
        if dtype == TensorProto.STRING:
            self.fail("is a string tensor, which the engine does not support", "unsupported-tensor", where)
        bits = _BITS.get(dtype)
        if bits is None:
            self.fail(f"has data type {dtype_text(dtype)}, which the converter does not support", "type", where)
        if t.HasField("segment"):
            self.fail("is segmented (TensorProto.segment), which the converter does not support",
                      "unsupported-tensor", where)
        dims = list(t.dims)
        if len(dims) > MAX_RANK:
            self.fail(f"has rank {len(dims)}; the engine file allows at most {MAX_RANK}", "shape", where)
        numel = 1
        for i, d in enumerate(dims):
            if d < 0:
                self.fail(f"dim {i} is {d} (negative)", "shape", where)
            numel *= d  # exact (Python int): the overflow check below sees the true size
        if numel > INT64_MAX:
            self.fail(f"declares dims {_dims_text(dims)}, whose element count overflows int64", "tensor-limit",
                      where)
        nbytes = (numel * bits + 7) // 8
        desc = f"dims {_dims_text(dims)} of {dtype_text(dtype)}"
        if nbytes > self.limits.max_tensor_bytes:
            self.fail(f"declares {desc} = {nbytes} bytes, above the per-tensor limit of "
                      f"{self.limits.max_tensor_bytes} bytes (Limits.max_tensor_bytes, --max-tensor-mb)",
                      "tensor-limit", where)
        self.total_bytes += nbytes
        if self.total_bytes > self.limits.max_total_tensor_bytes:
            self.fail(f"brings the model's tensors to {self.total_bytes} bytes, above the limit of "
                      f"{self.limits.max_total_tensor_bytes} bytes (Limits.max_total_tensor_bytes)",
                      "tensor-limit", where)
        if t.data_location == TensorProto.EXTERNAL:
            self.external(t, where, nbytes)
        elif t.data_location != TensorProto.DEFAULT:
            self.fail(f"has unknown data_location {t.data_location}", "external-data", where)
        elif t.external_data:
            self.fail("has external_data entries but data_location DEFAULT", "external-data", where)
        # raw_data counts when set, even empty: onnx reads a tensor from raw_data whenever the field is present
        present = [f for f in _TYPED_FIELDS if len(getattr(t, f))] + (["raw_data"] if t.HasField("raw_data") else [])
        if len(present) > 1:
            self.fail(f"holds data in both {present[0]} and {present[1]}", "tensor-size", where)
        if not present:
            if numel:
                self.fail(f"declares {desc} ({numel} elements) but holds no data", "tensor-size", where)
            return
        if present[0] == "raw_data":
            if len(t.raw_data) != nbytes:
                self.fail(f"declares {desc} = {nbytes} bytes but its raw_data holds {len(t.raw_data)}",
                          "tensor-size", where)
            return
        field, count = _typed_field(dtype, numel)
        if present[0] != field:
            self.fail(f"holds its data in {present[0]}, but a {dtype_text(dtype)} tensor keeps it in {field} "
                      "or raw_data", "tensor-size", where)
        if len(getattr(t, field)) != count:
            self.fail(f"declares {desc}, which needs {count} values in {field}; it holds "
                      f"{len(getattr(t, field))}", "tensor-size", where)

    def external(self, t: onnx.TensorProto, where: str, nbytes: int) -> None:
        """Read external data into the tensor, only from a regular file inside the model's folder."""
        entries = {e.key: e.value for e in t.external_data}
        location = entries.get("location", "")
        at = f"{where}: external data {_quoted(location)}"
        if self.base_dir is None:
            self.fail("keeps its data in an external file, which can only be read when the model is given as "
                      "a path (the file is looked up in the model's folder)", "external-data", at)
        if not location:
            self.fail("has external data without a location", "external-data", where)
        if not location.isprintable():
            self.fail("has control characters in its location", "external-data", at)
        if any(p.is_absolute() or p.drive for p in (PurePosixPath(location), PureWindowsPath(location))):
            self.fail("is an absolute path; external data must lie in the model's folder", "external-data", at)
        if ".." in PurePosixPath(location.replace("\\", "/")).parts:
            self.fail("climbs out with '..'; external data must lie in the model's folder", "external-data", at)
        folder = self.base_dir.resolve()
        path = (folder / location).resolve()  # symlinks followed: a link out of the folder is refused too
        if folder not in path.parents:
            self.fail("resolves outside the model's folder", "external-data", at)
        values: dict[str, int] = {}
        for key in ("offset", "length"):
            if key in entries:
                try:
                    values[key] = int(entries[key])
                except ValueError:
                    self.fail(f"has a non-integer {key} '{entries[key][:40]}'", "external-data", at)
                if values[key] < 0:
                    self.fail(f"has a negative {key} {values[key]}", "external-data", at)
        try:
            st = os.stat(path)
        except OSError as exc:
            self.fail(f"cannot be read: {exc.strerror or exc}", "external-data", at)
        if not stat.S_ISREG(st.st_mode):
            self.fail("is not a regular file", "external-data", at)
        offset = values.get("offset", 0)
        length = values.get("length", st.st_size - offset)
        if length != nbytes:
            self.fail(f"holds {length} bytes for a tensor that needs {nbytes}", "tensor-size", at)
        if offset + length > st.st_size:
            self.fail(f"range [{offset}, {offset + length}) goes past the end of the file ({st.st_size} bytes)",
                      "external-data", at)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(length)
        except OSError as exc:
            self.fail(f"cannot be read: {exc.strerror or exc}", "external-data", at)
        if len(data) != length:
            self.fail(f"gave {len(data)} of {length} bytes (the file changed?)", "external-data", at)
        t.raw_data = data
        t.data_location = TensorProto.DEFAULT
        del t.external_data[:]

    # -- data flow --
    def dataflow(self) -> None:
        """Every value produced once, every read value produced, no cycle; nodes put in topological order."""
        g = self.graph
        constants = {t.name for t in g.initializer}
        sources = {i.name: "graph input" for i in g.input} | {n: "initializer" for n in constants}
        producer: dict[str, int] = {}
        for i, node in enumerate(g.node):
            for out in node.output:
                if not out:
                    continue
                if out in sources:
                    self.fail(f"produces value '{out}', which is also {_article(sources[out])}", "produced-twice",
                              self.label(i))
                if out in producer:
                    j = producer[out]
                    other = "twice" if j == i else f"and so does {self.label_at(j)}"
                    self.fail(f"produces value '{out}' {other}", "produced-twice", self.label_at(i))
                producer[out] = i
        dangling = [(i, name) for i, node in enumerate(g.node) for name in node.input
                    if name and name not in producer and name not in sources]
        if dangling:
            (first, missing), rest = dangling[0], dangling[1:]
            others = "; ".join(f"{self.label(i)} reads '{name}'" for i, name in rest[:4])
            others += f" and {len(rest) - 4} more" if len(rest) > 4 else ""
            self.fail(f"reads '{missing}', which no node, graph input or initializer produces"
                      + (f" (also: {others})" if rest else ""), "dangling-input", self.label(first))
        for info in g.output:
            if info.name in producer:
                continue
            if info.name in sources:
                self.fail(f"is {_article(sources[info.name])}, not computed by a node; the engine file needs "
                          "every output produced by a node", "output-not-computed", f"graph output '{info.name}'")
            self.fail("is not produced by any node", "dangling-output", f"graph output '{info.name}'")
        self.toposort(producer)

    def toposort(self, producer: dict[str, int]) -> None:
        g = self.graph
        n = len(g.node)
        preds = [{producer[x] for x in node.input if x in producer} for node in g.node]
        succs: list[list[int]] = [[] for _ in range(n)]
        for i, ps in enumerate(preds):
            for p in ps:
                succs[p].append(i)
        indegree = [len(ps) for ps in preds]
        ready = [i for i in range(n) if not indegree[i]]
        heapq.heapify(ready)  # smallest index first: a sorted graph keeps its order
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for s in succs[i]:
                indegree[s] -= 1
                if not indegree[s]:
                    heapq.heappush(ready, s)
        if len(order) < n:
            self.fail(self.cycle_text(preds, set(range(n)) - set(order)), "cycle")
        if order != list(range(n)):
            nodes = [g.node[i] for i in order]
            copies = [onnx.NodeProto() for _ in nodes]
            for c, node in zip(copies, nodes):
                c.CopyFrom(node)
            del g.node[:]
            g.node.extend(copies)

    def cycle_text(self, preds: list[set[int]], left: set[int]) -> str:
        # every node left over has a predecessor left over: walking back from any one must close a loop
        cur, path, seen = min(left), [], {}
        while cur not in seen:
            seen[cur] = len(path)
            path.append(cur)
            cur = min(p for p in preds[cur] if p in left)
        loop = path[seen[cur]:][::-1]  # walked consumer -> producer; print in data-flow order
        first = loop.index(min(loop))  # from the earliest node in the file, as a reader would look for it
        loop = loop[first:] + loop[:first]
        labels = [self.label(i) for i in loop]
        return f"graph has a cycle: {' -> '.join(labels)} -> back to {labels[0]}"

    def run(self) -> onnx.ModelProto:
        self.header()
        self.declared_values()
        self.node_kinds()
        attribute_tensors = list(self.node_schemas())
        self.dataflow()
        self.tensors(attribute_tensors)
        return self.model


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _quoted(text: str) -> str:
    return repr(text) if not text.isprintable() else f"'{text}'"


def _range_text(lo: int, hi: int) -> str:
    if hi >= 2**31 - 1:
        return f"at least {lo}"
    return f"{lo}" if lo == hi else f"{lo} to {hi}"


def _attr_type(code: int) -> str:
    try:
        return AttributeProto.AttributeType.Name(code)
    except ValueError:
        return f"unknown type {code}"


def validate_model(model: onnx.ModelProto, source: str, limits: Limits | None = None,
                   base_dir: Path | None = None) -> onnx.ModelProto:
    """Check ``model`` (a copy is checked and returned; the caller's is not changed).

    The copy has its nodes in topological order, external data read in (from ``base_dir`` only, the model's
    folder; None when the model came as a ModelProto) and value_info that contradicts declared inputs
    dropped. Raises ModelFormatError (UnsupportedOpsError for ops no ONNX opset or the engine file knows).
    """
    check_strings(model, source)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return _Validator(copy, source, limits or Limits(), base_dir).run()


def check_with_onnx(model: onnx.ModelProto, source: str) -> None:
    """onnx.checker as the last word on what the checks above do not cover, as a ModelFormatError."""
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        _fail(source, f"is not valid ONNX: {first}", "checker")


def check_inferred(model: onnx.ModelProto, source: str) -> None:
    """Shapes inferred from a hostile graph can be negative or absurd; refuse them by value and producer."""
    producer = {o: node_label(n.name, n.op_type, i) for i, n in enumerate(model.graph.node) for o in n.output}
    for info in [*model.graph.value_info, *model.graph.output]:
        tt = info.type.tensor_type
        if not info.type.HasField("tensor_type") or not tt.HasField("shape"):
            continue
        dims = tt.shape.dim
        numel = 1
        for i, d in enumerate(dims):
            if d.HasField("dim_value"):
                numel *= max(d.dim_value, 0)
                if d.dim_value < 0:
                    by = f" (output of {producer[info.name]})" if info.name in producer else ""
                    _fail(source, f"shape inference gives it dim {i} = {d.dim_value} (negative){by}",
                          "shape-inference", f"value '{info.name}'")
        if numel * _BITS.get(tt.elem_type, 8) // 8 > INT64_MAX:
            by = f" (output of {producer[info.name]})" if info.name in producer else ""
            _fail(source, f"shape inference gives it a byte size that overflows int64{by}", "shape-inference",
                  f"value '{info.name}'")
