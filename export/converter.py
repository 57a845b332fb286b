"""ONNX -> engine model file: load, check, infer shapes, optimize, check support, write."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from export import ir
from export.atomic import write_atomically
from export.engine_file import EngineFileError, load_engine_file_summary, serialize
from export.errors import ModelFormatError
from export.lowering import lower
from export.opsets import ENGINE_OPSET, default_opset, to_engine_forms, upgrade
from export.passes import PASSES, PassResult, run_pipeline
from export.quantized.params import normalize as normalize_quantization
from export.quantized.precisions import prepare_precisions
from export.quantized.qoperator import lower_qoperator
from export.quantized.report import NodePrecision, format_precisions, node_precisions
from export.support import (
    EngineUnavailableError,
    SupportMatrix,
    UnsupportedOpsError,
    check_supported,
    engine_refusal,
    engine_supported_ops,
)
from export.validate import Limits, check_inferred, check_with_onnx, read_model, validate_model

WEIGHT_FORMATS = ("fp32", "fp16")


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
    source_opset: int = ENGINE_OPSET


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
    supported_ops: SupportMatrix | None = None,
) -> PreparedGraph:
    """Load and validate, normalize the opset, infer shapes, import and optimize.

    Every problem with the input is a ModelFormatError naming the source, raised before any pass runs (or,
    for what only evaluation reveals, e.g. a constant node that cannot be computed, by the pass that finds it).
    ``supported_ops`` (the engine's matrix when None) decides which ONNX function ops stay whole and which are
    expanded into their function bodies (export.opsets).
    """
    limits = limits or Limits()
    for pass_name in passes or ():
        PASSES.get(pass_name)  # a misspelled pass is a usage error: report it before reading the model
    model, name = load_checked(source, limits)
    try:
        ops_before = _source_op_counts(model)
        model, notes = prepare_quantized(model, name)
        model, source_opset, opset_note, inference_mode = normalize_opset(model, name, supported_ops)
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
    return PreparedGraph(graph, name, opset_note, inference_mode, ops_before, results, quantization, precision,
                         source_opset)


def normalize_opset(model: onnx.ModelProto, source: str,
                    supported_ops: SupportMatrix | None = None) -> tuple[onnx.ModelProto, int, str, str]:
    """The model at opset 17 in the engine's forms, shapes inferred: (model, source opset, note, inference mode).

    A model older than 17 is upgraded by ONNX's converter before inference; a newer one is inferred at its own
    opset (its nodes' semantics) and then rewritten node by node (export.opsets).
    """
    version = default_opset(model)
    if version is None:
        raise ModelFormatError("imports no default-domain (ai.onnx) opset", kind="opset", where="opset_import",
                               source=source)
    if version < ENGINE_OPSET:
        model = upgrade(model, source)
    model, inference_mode = infer_shapes(model, source)
    if supported_ops is None:
        try:
            supported_ops = engine_supported_ops()
        except EngineUnavailableError:
            supported_ops = {}  # without the engine, function ops are all expanded; the writer does not care
    data_prop = inference_mode == "strict"
    model, rewrites = to_engine_forms(model, supported_ops, source,
                                      reinfer=lambda m: refill_shapes(m, source, data_prop))
    note = str(version) if version == ENGINE_OPSET else f"{version} -> {ENGINE_OPSET}"
    model, lowered = lower(model)
    if lowered:
        model = refill_shapes(model, source, data_prop)
    if rewrites:
        note += f" ({rewrites.summary()})"
    if lowered:
        note += "; as 2-D ops: " + ", ".join(f"{op} x{n}" for op, n in sorted(lowered.items()))
    return model, version, note, inference_mode


def refill_shapes(model: onnx.ModelProto, source: str, data_prop: bool) -> onnx.ModelProto:
    """Shapes for the values of expanded function bodies, keeping those inferred before (lenient: a body
    written at an older opset than the model's may hold a node the model's opset reads differently, and its
    outputs are typed by the first inference through the function anyway)."""
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=data_prop)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, ValueError) as exc:
        raise ModelFormatError(f"shape inference fails after the opset rewrites: {_first_line(exc, 400)}",
                               kind="shape-inference", source=source) from exc
    check_inferred(model, source)
    return model


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
    prepared = prepare_graph(onnx_path_or_model, optimize=optimize, passes=passes, limits=limits,
                             supported_ops=supported_ops)
    graph, results = prepared.graph, prepared.passes
    matrix = engine_supported_ops() if supported_ops is None else supported_ops
    try:
        check_supported(graph, matrix)
    except UnsupportedOpsError as exc:
        raise exc.located(prepared.source) from None
    meta = {
        "producer": "slimlab.export",
        "source": Path(prepared.source).name,
        "source_opset": str(prepared.source_opset),
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
