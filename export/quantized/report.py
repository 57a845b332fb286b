"""Per node of the converted graph: the precision it runs in (int8 / float / convert) and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from onnx import TensorProto

from export.ir import Graph, Node, dtype_name
from export.passes.qdq_folding import INT8_OPS, explainer
from export.quantized.params import DQ, LAYOUT_OPS, Q

INT8, FLOAT, CONVERT = "int8", "float", "convert"


@dataclass(frozen=True)
class NodePrecision:
    node: str
    op_type: str
    precision: str  # "int8", "float", "convert" (Quantize/DequantizeLinear) or the dtype of a non-float op
    reason: str

    def format(self) -> str:
        return f"{self.precision:<7}  {self.op_type:<24} {self.node}" + (f": {self.reason}" if self.reason else "")


def _int8_reason(graph: Graph, node: Node) -> str:
    act = node.attr("activation")
    fused = f", {act} fused" if act else ""
    if node.op_type == "QGemm" and (len(node.inputs) < 8 or not node.inputs[7]):
        return f"integer GEMM, float output{fused}"
    if node.op_type == "QLinearLookup":
        return "256-entry table"
    if node.op_type == "QLinearConcat":
        return "requantizing concatenation"
    return f"integer kernel{fused}"


def _first_dtype(graph: Graph, node: Node) -> int:
    names = [i for i in node.inputs if i] or [o for o in node.outputs if o]
    v = graph.values.get(names[0]) if names else None
    return v.dtype if v is not None else 0


def classify(graph: Graph, node: Node, explain: Callable[[Node], str] | None) -> NodePrecision:
    """``explain`` is None for a graph without quantization (every float node is just float)."""
    if node.op_type in INT8_OPS:
        return NodePrecision(node.name, node.op_type, INT8, _int8_reason(graph, node))
    if node.op_type == Q:
        return NodePrecision(node.name, node.op_type, CONVERT, "float -> uint8")
    if node.op_type == DQ:
        src = graph.values.get(node.inputs[0])
        kind = "constant " if src is not None and src.is_const else ""
        dt = dtype_name(src.dtype) if src is not None and src.dtype else "?"
        return NodePrecision(node.name, node.op_type, CONVERT, f"{kind}{dt} -> float")
    dtype = _first_dtype(graph, node)
    if dtype in (TensorProto.UINT8, TensorProto.INT8) and node.op_type in LAYOUT_OPS:
        return NodePrecision(node.name, node.op_type, INT8, f"layout op on {dtype_name(dtype)} codes")
    if dtype not in (TensorProto.FLOAT, TensorProto.FLOAT16, 0):
        return NodePrecision(node.name, node.op_type, dtype_name(dtype), "not a float computation")
    if explain is None:
        return NodePrecision(node.name, node.op_type, FLOAT, "")
    return NodePrecision(node.name, node.op_type, FLOAT, explain(node))


def node_precisions(graph: Graph) -> list[NodePrecision]:
    quantized = any(n.op_type in INT8_OPS or n.op_type in (Q, DQ) for n in graph.nodes)
    explain = explainer(graph) if quantized else None
    return [classify(graph, n, explain) for n in graph.nodes]


def format_precisions(items: list[NodePrecision]) -> list[str]:
    if not items:
        return []
    counts = Counter(i.precision for i in items)
    head = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    if INT8 not in counts and CONVERT not in counts:
        return [f"precision: {head} (the model is not quantized)"]
    return [f"precision per node ({head}):", *(f"  {i.format()}" for i in items)]
