"""Graph optimization passes and the fixed default pipeline that runs them.

Each pass is one module registering itself in ``PASSES``; importing this package
imports them all.
"""

from __future__ import annotations

from collections.abc import Sequence

from export.ir import Graph
from export.passes import (  # noqa: F401  (imported for their registrations)
    activation_fusion,
    attention_fusion,
    bn_folding,
    channel_shuffle,
    constant_folding,
    cse,
    dead_nodes,
    dynamic_quant_fusion,
    identity_elimination,
    matmul_to_gemm,
    qdq_folding,
    recurrent_zero_state,
    reshape_simplification,
    se_scale_fusion,
    silu_gelu_patterns,
)
from export.passes.base import PASSES, PassResult, register_pass
from export.shape_refresh import refresh_shapes

# Order matters: cleanup and folding expose the Conv->BN / Conv->act adjacencies that
# the fusions look for; patterns become SiLU/Gelu before activation fusion absorbs them.
# qdq_folding comes after the cleanup (identical Q/DQ merged, shape chains folded) and before the float
# fusions, so that a Relu/Clip between a Conv and its QuantizeLinear becomes the integer clamp of a
# QLinearConv rather than a float activation; a SiLU/Gelu pattern recognized later in a round is tabulated
# in the next one. dynamic_quant_fusion (ONNX Runtime's quantize_dynamic MatMul chains) runs on the same cleaned
# graph, before qdq_folding looks at any quantized value.
DEFAULT_PIPELINE: tuple[str, ...] = (
    "identity_elimination",
    "constant_folding",
    "dead_node_elimination",
    "cse",
    "dynamic_quant_fusion",
    "qdq_folding",
    "reshape_simplification",
    "channel_shuffle",
    "bn_folding",
    "matmul_to_gemm",
    "attention_fusion",
    "se_scale_fusion",
    "silu_gelu_patterns",
    "activation_fusion",
    "recurrent_zero_state",
)

MAX_ROUNDS = 10


def run_pipeline(graph: Graph, passes: Sequence[str] | None = None) -> list[PassResult]:
    """Run ``passes`` (default pipeline when None) in order, repeated until nothing changes.

    One pass can enable another (folding exposes a fusion, a fusion leaves dead
    constants), so the whole sequence is repeated to a fixed point; returns one
    accumulated result per pass, in pipeline order.
    """
    names = list(DEFAULT_PIPELINE if passes is None else passes)
    funcs = [PASSES.get(n) for n in names]  # unknown names fail before anything runs
    totals = {n: PassResult(n) for n in names}
    for _ in range(MAX_ROUNDS):
        changed = False
        for name, fn in zip(names, funcs):
            result = fn(graph)
            totals[name].merge(result)
            changed |= result.changed
        if not changed:
            break
        refresh_shapes(graph)  # constants made by this round may make more dims static for the next
    # passes leave orphaned values behind; the writer must only see referenced ones
    graph.prune_values()
    graph.toposort()
    return [totals[n] for n in names]


__all__ = ["DEFAULT_PIPELINE", "PASSES", "PassResult", "register_pass", "run_pipeline"]
