"""ONNX -> engine model file: load, check, infer shapes, optimize, check support, write."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import onnx.version_converter

from export import ir
from export.engine_file import load_engine_file_summary, write_engine_file
from export.passes import PassResult, run_pipeline
from export.support import SupportMatrix, check_supported, engine_supported_ops

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

    def format(self) -> str:
        lines = [f"converted {self.source} -> {self.output} ({self.file_size} bytes, weights {self.weights}, "
                 f"{self.weights_size} weight bytes)", f"opset: {self.opset}; shape inference: {self.shape_inference}"]
        lines += [f"pass {p.summary()}" for p in self.passes] or ["passes: none (--no-optimize)"]
        ops = sorted(set(self.ops_before) | set(self.ops_after))
        width = max((len(o) for o in ops), default=2)
        lines.append(f"{'op':<{width}}  before  after")
        lines += [f"{o:<{width}}  {self.ops_before.get(o, 0):>6}  {self.ops_after.get(o, 0):>5}" for o in ops]
        lines.append(f"{'total':<{width}}  {sum(self.ops_before.values()):>6}  {sum(self.ops_after.values()):>5}")
        return "\n".join(lines)


def load_checked(source: str | os.PathLike[str] | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Load (if a path) and run onnx.checker; returns the model and a name for reports."""
    if isinstance(source, onnx.ModelProto):
        model, name = source, "<ModelProto>"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {path} does not exist")
        model, name = onnx.load(path), str(path)
    onnx.checker.check_model(model)
    return model, name


def to_target_opset(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Bring the model to opset 17, the semantics FORMAT.md fixes (e.g. Squeeze axes as input)."""
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if version is None:
        raise ValueError("the model imports no default-domain (ai.onnx) opset")
    if version == TARGET_OPSET:
        return model, str(version)
    try:
        converted = onnx.version_converter.convert_version(model, TARGET_OPSET)
    except Exception as exc:  # the converter raises bare RuntimeError/ValueError subclasses
        raise ValueError(
            f"the model uses opset {version} and could not be converted to opset {TARGET_OPSET}: {exc}"
        ) from exc
    return converted, f"{version} -> {TARGET_OPSET}"


def infer_shapes(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Strict shape inference with data propagation; lenient (reported) if strict fails."""
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True), "strict"
    except onnx.shape_inference.InferenceError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        return onnx.shape_inference.infer_shapes(model, data_prop=True), f"lenient (strict failed: {first})"


@dataclass
class PreparedGraph:
    """The optimized IR that ``convert`` writes, and how it was obtained."""

    graph: ir.Graph
    source: str
    opset: str
    shape_inference: str
    ops_before: Counter[str]
    passes: list[PassResult]


def prepare_graph(
    source: str | os.PathLike[str] | onnx.ModelProto, *, optimize: bool = True, passes: list[str] | None = None
) -> PreparedGraph:
    """Load, check, normalize the opset, infer shapes, import and optimize."""
    model, name = load_checked(source)
    model, opset_note = to_target_opset(model)
    model, inference_mode = infer_shapes(model)
    graph = ir.from_onnx(model)
    ops_before = graph.op_counts()
    results = run_pipeline(graph, passes) if optimize else []
    if not optimize:
        graph.toposort()
    return PreparedGraph(graph, name, opset_note, inference_mode, ops_before, results)


def convert(
    onnx_path_or_model: str | os.PathLike[str] | onnx.ModelProto,
    out_path: str | os.PathLike[str],
    *,
    weights: str = "fp32",
    optimize: bool = True,
    passes: list[str] | None = None,
    supported_ops: SupportMatrix | None = None,
) -> ConversionReport:
    """Convert an ONNX model to the engine's model file (engine/FORMAT.md).

    ``passes`` overrides the default pipeline (names from ``export.passes.PASSES``);
    ``supported_ops`` is the engine's support matrix, taken from the built engine
    module when None. Unsupported ops fail before anything is written.
    """
    if weights not in WEIGHT_FORMATS:
        raise ValueError(f"weights must be one of {WEIGHT_FORMATS}, got '{weights}'")
    prepared = prepare_graph(onnx_path_or_model, optimize=optimize, passes=passes)
    graph, results = prepared.graph, prepared.passes
    matrix = engine_supported_ops() if supported_ops is None else supported_ops
    check_supported(graph, matrix)
    meta = {
        "producer": "slimlab.export",
        "source": Path(prepared.source).name,
        "source_opset": str(graph.opset),
        "weights": weights,
        "passes": ",".join(r.name for r in results),
    }
    path = write_engine_file(graph, out_path, weights=weights, meta=meta)
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
    )
