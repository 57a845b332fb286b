"""Common-subexpression elimination: identical constants and identical nodes computed once."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from export.ir import Graph, subgraphs
from export.passes.base import PassResult, register_pass


def _const_key(arr: np.ndarray) -> tuple:
    # hash the bytes so that big weights are compared cheaply; dtype+shape disambiguate
    return (arr.dtype.str, arr.shape, hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest())


def _attr_key(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _const_key(value)
    if isinstance(value, list):
        return tuple(_attr_key(v) for v in value)
    return value


# merging two draws of a random op would change the distribution of the outputs
_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                     "Bernoulli"}


@register_pass("cse")
def run(graph: Graph) -> PassResult:
    result = PassResult("cse")
    protected = set(graph.inputs) | set(graph.outputs)
    seen_consts: dict[tuple, str] = {}
    for name, value in list(graph.values.items()):
        if not value.is_const or name in protected:
            continue
        key = _const_key(value.const)
        if key in seen_consts:
            graph.replace_uses(name, seen_consts[key])
            del graph.values[name]
            result.changes["merged constants"] += 1
        else:
            seen_consts[key] = name
    seen_nodes: dict[tuple, list[str]] = {}
    dead = []
    for node in graph.nodes:  # topological order: a node's inputs are already canonical
        if node.op_type in _NONDETERMINISTIC or subgraphs(node):
            continue  # control flow is opaque to the passes (export/README.md)
        key = (
            node.domain,
            node.op_type,
            tuple(node.inputs),
            len(node.outputs),
            tuple(sorted((k, _attr_key(v)) for k, v in node.attrs.items())),
        )
        first = seen_nodes.get(key)
        if first is None:
            seen_nodes[key] = node.outputs
            continue
        if any(o in graph.outputs or (o and not t) for o, t in zip(node.outputs, first)):
            continue
        for mine, theirs in zip(node.outputs, first):
            if mine:
                graph.replace_uses(mine, theirs)
        dead.append(node)
        result.changes["merged nodes"] += 1
    graph.remove_nodes(dead)
    return result
