"""Recognize the exported forms of SiLU and erf-GELU and replace them with one node each.

SiLU: Mul(x, Sigmoid(x)) (either operand order).
GELU: x * 0.5 * (1 + erf(x / sqrt(2))) in the association orders exporters emit,
with x / sqrt(2) written as Div by sqrt(2) or Mul by 1/sqrt(2).
"""

from __future__ import annotations

import math

import numpy as np

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass


def _scalar(graph: Graph, name: str) -> float | None:
    arr = graph.const(name)
    if arr is None or arr.size != 1 or not np.issubdtype(arr.dtype, np.floating):
        return None
    return float(arr.reshape(-1)[0])


def _close(v: float | None, target: float) -> bool:
    return v is not None and math.isclose(v, target, rel_tol=1e-4)


def _split_const(graph: Graph, node: Node) -> tuple[str, float] | None:
    """For a binary node with one scalar-constant operand: (the other operand, the constant)."""
    if len(node.inputs) != 2:
        return None
    for i in (0, 1):
        c = _scalar(graph, node.inputs[i])
        if c is not None:
            return node.inputs[1 - i], c
    return None


class _Matcher:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.producers = graph.producers()
        self.consumers = graph.consumers()
        self.alive = {n.name for n in graph.nodes}

    def private(self, value: str) -> bool:
        """The value feeds exactly one node and is not a graph output, so it may be absorbed."""
        return len(self.consumers.get(value, [])) == 1 and value not in self.graph.outputs

    def producer(self, value: str, op: str) -> Node | None:
        n = self.producers.get(value)
        return n if n is not None and n.op_type == op else None

    def silu(self, mul: Node) -> tuple[str, list[Node]] | None:
        if mul.op_type != "Mul" or len(mul.inputs) != 2:
            return None
        for i in (0, 1):
            sig = self.producer(mul.inputs[i], "Sigmoid")
            if sig is not None and sig.inputs[0] == mul.inputs[1 - i] and self.private(sig.outputs[0]):
                return sig.inputs[0], [sig, mul]
        return None

    def erf_plus_one(self, value: str) -> tuple[str, list[Node]] | None:
        """value == 1 + erf(x / sqrt 2): returns x and the nodes computing it."""
        add = self.producer(value, "Add")
        split = _split_const(self.graph, add) if add is not None else None
        if split is None or not _close(split[1], 1.0) or not self.private(split[0]):
            return None
        erf = self.producer(split[0], "Erf")
        if erf is None or not self.private(erf.inputs[0]):
            return None
        scale = self.producers.get(erf.inputs[0])
        inner = _split_const(self.graph, scale) if scale is not None else None
        if inner is None:
            return None
        ok = (scale.op_type == "Div" and scale.inputs[0] == inner[0] and _close(inner[1], math.sqrt(2))) or (
            scale.op_type == "Mul" and _close(inner[1], 1 / math.sqrt(2))
        )
        return (inner[0], [scale, erf, add]) if ok else None

    def _factors(self, mul: Node, depth: int) -> tuple[list[str], list[Node]]:
        """Leaves of a tree of Muls whose interior results are private: x*0.5*t in any association."""
        leaves, nodes = [], [mul]
        for v in mul.inputs:
            inner = self.producer(v, "Mul")
            if depth > 0 and inner is not None and len(inner.inputs) == 2 and self.private(v):
                sub_leaves, sub_nodes = self._factors(inner, depth - 1)
                leaves += sub_leaves
                nodes += sub_nodes
            else:
                leaves.append(v)
        return leaves, nodes

    def gelu(self, out: Node) -> tuple[str, list[Node]] | None:
        """out computes x * 0.5 * (1 + erf(x / sqrt 2)) in any association of the two Muls."""
        if out.op_type != "Mul" or len(out.inputs) != 2:
            return None
        leaves, muls = self._factors(out, 1)
        if len(leaves) != 3:
            return None
        halves = [v for v in leaves if _close(_scalar(self.graph, v), 0.5)]
        for t in leaves:
            if not self.private(t) or not halves:
                continue
            found = self.erf_plus_one(t)
            if found is None:
                continue
            x, erf_nodes = found
            rest = list(leaves)
            rest.remove(t)
            rest.remove(halves[0])
            if rest == [x]:
                return x, [*erf_nodes, *muls]
        return None


@register_pass("silu_gelu_patterns")
def run(graph: Graph) -> PassResult:
    result = PassResult("silu_gelu_patterns")
    m = _Matcher(graph)
    for node in list(graph.nodes):
        if node.name not in m.alive:  # already absorbed by an earlier match
            continue
        for op, found in (("SiLU", m.silu(node)), ("Gelu", m.gelu(node))):
            if found is None:
                continue
            x, matched = found
            repl = Node(op, graph.fresh_name(f"{node.name}_{op.lower()}"), [x], [node.outputs[0]])
            if op == "Gelu":
                repl.attrs["approximate"] = "none"
            graph.remove_nodes(matched)
            graph.nodes.append(repl)
            graph.toposort()
            result.changes[f"{op} patterns"] += 1
            m = _Matcher(graph)  # the maps are stale after an edit; matches are rare, rebuilding is cheap
            break
    return result
