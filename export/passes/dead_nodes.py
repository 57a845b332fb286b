"""Remove nodes whose outputs nobody reads, and constants nobody uses."""

from __future__ import annotations

from export.ir import Graph, node_reads
from export.passes.base import PassResult, register_pass


@register_pass("dead_node_elimination")
def run(graph: Graph) -> PassResult:
    result = PassResult("dead_node_elimination")
    # walk backwards so that a whole dead chain goes in one sweep
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs if o):
            kept.append(node)
            live.update(node_reads(node))  # a subgraph's captures keep their producers
        else:
            result.changes["removed nodes"] += 1
    graph.nodes = kept[::-1]
    unused = [k for k, v in graph.values.items() if v.is_const and k not in live]
    for k in unused:
        del graph.values[k]
    result.changes["removed constants"] += len(unused)
    graph.prune_values()
    return result
