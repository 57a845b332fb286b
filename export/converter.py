"""ONNX -> engine model file: load, check, infer shapes, optimize, check support, write."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import onnx.version_converter

from export import ir
from export.atomic import write_atomically
from export.engine_file import EngineFileError, load_engine_file_summary, serialize
from export.errors import ModelFormatError
from export.passes import PASSES, PassResult, run_pipeline
from export.quantized.params import normalize as normalize_quantization
from export.quantized.precisions import prepare_precisions
from export.quantized.qoperator import lower_qoperator
from export.quantized.report import NodePrecision, format_precisions, node_precisions
from export.support import (
    SupportMatrix,
    UnsupportedOpsError,
    check_supported,
    engine_refusal,
    engine_supported_ops,
)
from export.validate import Limits, check_inferred, check_with_onnx, read_model, validate_model

WEIGHT_FORMATS = ("fp32", "fp16")
TARGET_OPSET = 17


@dataclass
class ConversionReport:
    source: str
    output: Path
    weights: str
    opset: str
    shape_inference: str
    ops_before: Counter[str]
    ops_after: Counter[str]
    passes: list[PassResult] = field(default_factory=list)
    file_size: int = 0
    weights_size: int = 0
    quantization: str = "none"
    # per node of the written graph: int8 / float / convert (Q/DQ), and why (export.quantized.report)
    precision: list[NodePrecision] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"converted {self.source} -> {self.output} ({self.file_size} bytes, weights {self.weights}, "
                 f"{self.weights_size} weight bytes)", f"opset: {self.opset}; shape inference: {self.shape_inference}",
                 f"quantization: {self.quantization}"]
        lines += [f"pass {p.summary()}" for p in self.passes] or ["passes: none (--no-optimize)"]
        ops = sorted(set(self.ops_before) | set(self.ops_after))
        width = max((len(o) for o in ops), default=2)
        lines.append(f"{'op':<{width}}  before  after")
        lines += [f"{o:<{width}}  {self.ops_before.get(o, 0):>6}  {self.ops_after.get(o, 0):>5}" for o in ops]
        lines.append(f"{'total':<{width}}  {sum(self.ops_before.values()):>6}  {sum(self.ops_after.values()):>5}")
        lines += format_precisions(self.precision)
        return "\n".join(lines)


def load_checked(source: str | os.PathLike[str] | onnx.ModelProto,
                 limits: Limits | None = None) -> tuple[onnx.ModelProto, str]:
    """Read (if a path), validate and run onnx.checker; returns a checked copy and a name for messages.

    Raises ModelFormatError (or UnsupportedOpsError) for anything wrong with the input, before any pass.
    """
    limits = limits or Limits()
    if isinstance(source, onnx.ModelProto):
        model, name, base_dir = source, "<ModelProto>", None
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        model, name, base_dir = read_model(path, limits), str(path), path.parent
    else:
        raise TypeError(f"expected a path or an onnx.ModelProto, got {type(source).__name__}")
    model = validate_model(model, name, limits, base_dir)
    check_with_onnx(model, name)
    return model, name


# Ops born, or given more semantics, after opset 17 that the engine runs at their own (newest) version:
# RMSNormalization-23, GroupNormalization-18/21 (scale per group or per channel), Mish-18, Swish-24, the
# Bitwise ops-18, BitShift-28 (signed types), CumProd-26, Gelu-20, ScatterElements/ScatterND-18 (reduction
# max, min), LpPool-18 (dilations, ceil_mode). ONNX's version converter has no way down to 17 for them, so
# in a model of a later opset they cross the conversion untouched (FORMAT.md).
LATE_OPS = frozenset({"RMSNormalization", "GroupNormalization", "Mish", "Swish", "BitwiseAnd", "BitwiseOr",
                      "BitwiseXor", "BitwiseNot", "BitShift", "CumProd", "Gelu", "ScatterElements", "ScatterND",
                      "LpPool"})
_LATE_DOMAIN = "slimlab.late_ops"  # where LATE_OPS nodes wait while the converter runs


def to_target_opset(model: onnx.ModelProto, source: str = "<ModelProto>") -> tuple[onnx.ModelProto, str]:
    """Bring the model to opset 17, the semantics FORMAT.md fixes (e.g. Squeeze axes as input)."""
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if version is None:
        raise ModelFormatError("imports no default-domain (ai.onnx) opset", kind="opset", where="opset_import",
                               source=source)
    if version == TARGET_OPSET:
        return model, str(version)
    late = [n for n in model.graph.node if n.domain in ("", "ai.onnx") and n.op_type in LATE_OPS]
    if version > TARGET_OPSET and late:
        # the converter leaves nodes of a domain it does not know alone
        model = _copy(model)
        for n in model.graph.node:
            if n.domain in ("", "ai.onnx") and n.op_type in LATE_OPS:
                n.domain = _LATE_DOMAIN
        model.opset_import.append(onnx.helper.make_opsetid(_LATE_DOMAIN, 1))
    try:
        converted = onnx.version_converter.convert_version(model, TARGET_OPSET)
    except Exception as exc:  # the converter raises bare RuntimeError/ValueError subclasses
        raise ModelFormatError(f"uses ai.onnx opset {version}, which could not be converted to opset "
                               f"{TARGET_OPSET}: {_first_line(exc, 300)}", kind="opset", where="opset_import",
                               source=source) from exc
    if version > TARGET_OPSET and late:
        for n in converted.graph.node:
            if n.domain == _LATE_DOMAIN:
                n.domain = ""
        kept = [o for o in converted.opset_import if o.domain != _LATE_DOMAIN]
        del converted.opset_import[:]
        converted.opset_import.extend(kept)
        _declare_late_outputs(model, converted, late)
        names = ", ".join(sorted({n.op_type for n in late}))
        return converted, f"{version} -> {TARGET_OPSET} ({names} kept at opset {version})"
    return converted, f"{version} -> {TARGET_OPSET}"


def _declare_late_outputs(source: onnx.ModelProto, converted: onnx.ModelProto, late: list[onnx.NodeProto]) -> None:
    """Types of the LATE_OPS outputs, inferred at the source opset, declared in the converted model.

    At opset 17, ONNX's shape inference has no schema for these ops, so whatever reads their outputs would be
    left without a dtype. The declarations go through the same strict check as any other (infer_shapes).
    """
    wanted = {o for n in late for o in n.output if o}
    declared = {v.name for v in (*converted.graph.value_info, *converted.graph.output, *converted.graph.input)}
    source = _copy(source)
    for n in source.graph.node:  # back in ai.onnx, where the source opset has their schemas
        if n.domain == _LATE_DOMAIN:
            n.domain = ""
    kept = [o for o in source.opset_import if o.domain != _LATE_DOMAIN]
    del source.opset_import[:]
    source.opset_import.extend(kept)
    try:
        inferred = onnx.shape_inference.infer_shapes(source)
    except Exception:  # noqa: BLE001 - without the types the converter goes on as it would have
        return
    for v in inferred.graph.value_info:
        if v.name in wanted and v.name not in declared and v.type.tensor_type.elem_type:
            converted.graph.value_info.append(v)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def infer_shapes(model: onnx.ModelProto, source: str = "<ModelProto>") -> tuple[onnx.ModelProto, str]:
    """Strict shape inference with data propagation; lenient (reported) when strict inference fails.

    Strict inference runs first without data propagation: data propagation sizes its buffers from declared
    shapes, so on a graph whose declared shapes contradict the inferred ones (a hostile value_info) it could
    allocate without bound. Only a graph that passes that gets data propagation. A graph that fails strict
    inference is not refused: ONNX's inference is wrong for some valid graphs (ONNX Runtime merges such
    conflicts leniently too), so it gets lenient inference without data propagation, with a note in the
    report (declared shapes of intermediate values are dropped first: lenient merging would keep a wrong one);
    what that lets through and the engine cannot run, the engine's load check refuses by node.
    """
    infer = onnx.shape_inference.infer_shapes
    # onnx raises plain ValueError too (e.g. for a value declared with an undefined element type)
    errors = (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, ValueError)
    try:
        plain = infer(model, check_type=True, strict_mode=True)
    except errors as exc:
        # lenient inference keeps a declared shape over a contradicting inferred one, and the passes act on
        # shapes (a Shape of a value folds into a constant): declarations of intermediate values are advice,
        # so they are dropped rather than let a wrong one through
        model = _without_value_info(model)
        try:
            inferred, mode = infer(model), f"lenient (strict failed: {_first_line(exc, 200)})"
        except errors as exc2:
            raise ModelFormatError(f"shape inference fails: {_first_line(exc2, 400)}", kind="shape-inference",
                                   source=source) from exc2
    else:
        try:
            inferred, mode = infer(model, check_type=True, strict_mode=True, data_prop=True), "strict"
        except errors as exc:
            inferred, mode = plain, f"strict without data propagation (it failed: {_first_line(exc, 200)})"
    check_inferred(inferred, source)
    return inferred, mode


def _without_value_info(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    del copy.graph.value_info[:]
    return copy


def _first_line(exc: BaseException, limit: int) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


@dataclass
class PreparedGraph:
    """The optimized IR that ``convert`` writes, and how it was obtained."""

    graph: ir.Graph
    source: str
    opset: str
    shape_inference: str
    ops_before: Counter[str]
    passes: list[PassResult]
    quantization: str = "none"
    precision: list[NodePrecision] = field(default_factory=list)


def _source_op_counts(model: onnx.ModelProto) -> Counter[str]:
    """Op counts of the model as given (Constant nodes are constants, not ops, as in the IR)."""
    return Counter(n.op_type for n in model.graph.node if not (n.op_type == "Constant" and n.domain in ("", "ai.onnx")))


def prepare_quantized(model: onnx.ModelProto, source: str) -> tuple[onnx.ModelProto, list[str]]:
    """QOperator nodes lowered to QDQ, 4-bit weights widened (before the opset conversion); notes for the report.

    Both run on the checked model: the lowered graph is plain ONNX (checked again, since the checker had no
    schemas for the contrib ops it held).
    """
    notes = []
    model, lowered = lower_qoperator(model, source)
    if lowered:
        notes.append(f"{lowered} QOperator nodes lowered to DequantizeLinear -> op -> QuantizeLinear")
        check_with_onnx(model, source)
    model, widened = prepare_precisions(model, source)
    if widened:
        notes.append(f"{widened} int4/uint4 weights widened to 8 bits")
    return model, notes


def prepare_graph(
    source: str | os.PathLike[str] | onnx.ModelProto,
    *,
    optimize: bool = True,
    passes: list[str] | None = None,
    limits: Limits | None = None,
) -> PreparedGraph:
    """Load and validate, normalize the opset, infer shapes, import and optimize.

    Every problem with the input is a ModelFormatError naming the source, raised before any pass runs (or,
    for what only evaluation reveals, e.g. a constant node that cannot be computed, by the pass that finds it).
    """
    limits = limits or Limits()
    for pass_name in passes or ():
        PASSES.get(pass_name)  # a misspelled pass is a usage error: report it before reading the model
    model, name = load_checked(source, limits)
    try:
        ops_before = _source_op_counts(model)
        model, notes = prepare_quantized(model, name)
        model, opset_note = to_target_opset(model, name)
        model, inference_mode = infer_shapes(model, name)
        graph = ir.from_onnx(model)
        graph.max_const_bytes = limits.max_tensor_bytes
        # not a pass: the engine's Q/DQ ops need it even without optimization (uint8 activations, explicit
        # constant grids), and bad quantization parameters are bad input, refused before any pass runs
        normalized = normalize_quantization(graph)
        results = run_pipeline(graph, passes) if optimize else []
        if not optimize:
            graph.toposort()
        # what runs in which precision and why, on the graph as folded. A float op's 8-bit weight stays 8-bit
        # behind its DequantizeLinear: the engine dequantizes constants once at load (QUANTIZED.md)
        precision = node_precisions(graph)
    except ModelFormatError as exc:
        raise exc.located(name) from exc.__cause__
    quantization = "; ".join([normalized.summary(), *notes])
    return PreparedGraph(graph, name, opset_note, inference_mode, ops_before, results, quantization, precision)


def convert(
    onnx_path_or_model: str | os.PathLike[str] | onnx.ModelProto,
    out_path: str | os.PathLike[str],
    *,
    weights: str = "fp32",
    optimize: bool = True,
    passes: list[str] | None = None,
    supported_ops: SupportMatrix | None = None,
    limits: Limits | None = None,
) -> ConversionReport:
    """Convert an ONNX model to the engine's model file (engine/FORMAT.md).

    ``passes`` overrides the default pipeline (names from ``export.passes.PASSES``); ``supported_ops`` is the
    engine's support matrix, taken from the built engine module when None, in which case the engine must also
    load the result; ``limits`` caps what the model may make the converter read or allocate. Bad input
    (malformed file or graph, unsupported opset, domain or op) raises ``ModelFormatError`` (its subclass
    ``UnsupportedOpsError`` for ops) naming the file and the node/value/field, before anything is written.
    """
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"weights must be one of {WEIGHT_FORMATS}, got '{weights}'")
    prepared = prepare_graph(onnx_path_or_model, optimize=optimize, passes=passes, limits=limits)
    graph, results = prepared.graph, prepared.passes
    matrix = engine_supported_ops() if supported_ops is None else supported_ops
    try:
        check_supported(graph, matrix)
    except UnsupportedOpsError as exc:
        raise exc.located(prepared.source) from None
    meta = {
        "producer": "slimlab.export",
        "source": Path(prepared.source).name,
        "source_opset": str(graph.opset),
        "weights": weights,
        "passes": ",".join(r.name for r in results),
    }
    try:
        data = serialize(graph, weights, meta)
    except EngineFileError as exc:
        # the writer's refusals are all about what the graph holds (a dtype, rank or attribute the file
        # cannot carry), which the input decides
        raise ModelFormatError(f"cannot be written as an engine file: {exc}", kind="unwritable",
                               source=prepared.source) from exc
    if supported_ops is None:
        # the engine checks each op's attributes and constant shapes when it loads a graph (a bias of the
        # wrong length passes ONNX's inference); a file it would refuse is refused here, before it is written
        refusal = engine_refusal(data)
        if refusal is not None:
            raise ModelFormatError(f"the engine refuses the converted graph: {refusal}", kind="engine-refuses",
                                   source=prepared.source)
    path = write_atomically(out_path, data)
    summary = load_engine_file_summary(path)  # re-read: never hand out a file the reader rejects
    return ConversionReport(
        source=prepared.source,
        output=path,
        weights=weights,
        opset=prepared.opset,
        shape_inference=prepared.shape_inference,
        ops_before=prepared.ops_before,
        ops_after=graph.op_counts(),
        passes=results,
        file_size=summary.file_size,
        weights_size=summary.weights_size,
        quantization=prepared.quantization,
        precision=prepared.precision,
    )
