"""Check a graph against the engine's support matrix before anything is written.

The matrix is ``{op_type: [dtype names]}`` as returned by ``engine.supported_ops()``.
A node's dtype is the element type of its first present input (the data it
computes on; for Shape that is the tensor whose shape is read), or of its first
output for nodes without inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from export.errors import ModelFormatError, printable
from export.ir import Graph, Node, dtype_name, subgraphs

SupportMatrix = Mapping[str, Sequence[str]]


# What the converter's int8 output needs from the engine (engine/QUANTIZED.md), in the support matrix's terms: a
# node's dtype is its first input's (QLinearConcat's first input is its float32 Y_scale). Layout ops take the
# uint8 codes as they are. Tests convert against this where the engine is not built with the int8 ops yet.
INT8_SUPPORT: dict[str, list[str]] = {
    "QuantizeLinear": ["float32"],
    "DequantizeLinear": ["uint8", "int8", "int32"],
    "QLinearConv": ["uint8"],
    "QGemm": ["uint8"],
    "QLinearMatMul": ["uint8"],
    "QLinearAdd": ["uint8"],
    "QLinearMul": ["uint8"],
    "QLinearGlobalAveragePool": ["uint8"],
    "QLinearAveragePool": ["uint8"],
    "QLinearConcat": ["float32"],
    "QLinearLookup": ["uint8"],
    **{op: ["uint8"] for op in ("MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat",
                                "Split", "Slice", "Pad", "DepthToSpace", "SpaceToDepth", "Gather", "Identity",
                                "Resize")},
}


class UnsupportedOpsError(ModelFormatError):
    """The graph uses op types or dtypes the engine does not implement; lists all of them.

    ``reasons`` says why an op type is unsupported when it is not just missing from the engine (not an ONNX
    operator at the model's opset, control flow the engine file cannot carry).
    """

    def __init__(self, unsupported_ops: dict[str, list[str]], unsupported_dtypes: dict[tuple[str, str], list[str]],
                 *, reasons: dict[str, str] | None = None, source: str | None = None) -> None:
        self.unsupported_ops = unsupported_ops
        self.unsupported_dtypes = unsupported_dtypes
        reasons = reasons or {}
        lines = ["the engine does not support this graph:"]
        for op, nodes in sorted(unsupported_ops.items()):
            why = f", {reasons[op]}" if op in reasons else ""
            lines.append(f"  op {op} ({len(nodes)} node{'s' * (len(nodes) != 1)}{why}): {', '.join(nodes)}")
        for (op, dt), nodes in sorted(unsupported_dtypes.items()):
            lines.append(f"  op {op} with dtype {dt} ({len(nodes)}): {', '.join(nodes)}")
        self.lines = lines
        super().__init__("\n".join(lines), kind="unsupported-ops", source=source)

    def _message(self) -> str:
        # one line per op type is the point of this message: escape each line, keep the line breaks
        head = [printable(p) for p in (self.source, self.where) if p]
        return ": ".join([*head, printable(self.lines[0])]) + "".join(f"\n{printable(ln)}" for ln in self.lines[1:])


def node_dtype(graph: Graph, node: Node) -> str:
    names = [i for i in node.inputs if i] or [o for o in node.outputs if o]
    value = graph.values.get(names[0]) if names else None
    return dtype_name(value.dtype) if value is not None and value.dtype else "unknown"


def check_supported(graph: Graph, supported: SupportMatrix) -> None:
    """Raise UnsupportedOpsError naming every unsupported op type / dtype and its nodes (subgraphs included)."""
    bad_ops: dict[str, list[str]] = {}
    bad_dtypes: dict[tuple[str, str], list[str]] = {}
    _check_nodes(graph, [], supported, bad_ops, bad_dtypes)
    if bad_ops or bad_dtypes:
        raise UnsupportedOpsError(bad_ops, bad_dtypes)


def _check_nodes(graph: Graph, outer: list[Graph], supported: SupportMatrix, bad_ops: dict[str, list[str]],
                 bad_dtypes: dict[tuple[str, str], list[str]]) -> None:
    for node in graph.nodes:
        for _, sub in subgraphs(node):
            _check_nodes(sub, [graph, *outer], supported, bad_ops, bad_dtypes)
        if node.op_type not in supported:
            bad_ops.setdefault(node.op_type, []).append(node.name)
            continue
        if node.inputs and not node.inputs[0]:
            continue  # an omitted input 0 (Loop's trip count): the engine checks the dtype of a present one
        scopes = [graph, *outer]
        name = next((i for i in node.inputs if i), None) or next((o for o in node.outputs if o), "")
        holder = next((g for g in scopes if name in g.values), graph)
        dt = node_dtype(holder, Node(node.op_type, node.name, [name], []))
        if dt not in supported[node.op_type]:
            bad_dtypes.setdefault((node.op_type, dt), []).append(node.name)


class EngineUnavailableError(RuntimeError):
    """The engine's Python module is not built: a problem of the installation, not of the model."""


def engine_supported_ops() -> dict[str, list[str]]:
    """The compiled engine's support matrix; a clear error when the module is not built."""
    try:
        import engine

        fn = engine.supported_ops
    except (ImportError, AttributeError) as exc:
        raise EngineUnavailableError(
            "the engine's Python module is not built, so its support matrix (engine.supported_ops()) is "
            "unavailable; build it with `pip install -e .` (or pass supported_ops= to export.convert_model)"
        ) from exc
    return {str(k): [str(d) for d in v] for k, v in fn().items()}


def engine_refusal(data: bytes) -> str | None:
    """Why the built engine refuses to load this engine file, or None when it loads it.

    None too when the engine module offers no Session (a stand-in that only declares a support matrix).
    """
    import engine

    session, error = getattr(engine, "Session", None), getattr(engine, "EngineError", None)
    if session is None or error is None:
        return None
    try:
        session(data)
    except error as exc:
        return str(exc)
    return None
