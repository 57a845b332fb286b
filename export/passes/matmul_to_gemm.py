"""MatMul(A, B) + constant bias -> Gemm(A, B, C) when A is 2-D.

Only the 2-D case is rewritten: Gemm is defined for matrices, and flattening a
batched MatMul would need extra Reshapes that change nothing but the op name, so
batched MatMul + Add keep their ONNX form.
"""

from __future__ import annotations

import numpy as np

from export.ir import Graph
from export.passes.base import PassResult, register_pass


@register_pass("matmul_to_gemm")
def run(graph: Graph) -> PassResult:
    result = PassResult("matmul_to_gemm")
    producers, consumers = graph.producers(), graph.consumers()
    for add in list(graph.nodes):
        if add.op_type != "Add" or len(add.inputs) != 2:
            continue
        for mm_side in (0, 1):
            mm = producers.get(add.inputs[mm_side])
            bias = graph.const(add.inputs[1 - mm_side])
            if mm is None or mm.op_type != "MatMul" or bias is None or mm.attr("activation"):
                continue
            a, y = graph.values[mm.inputs[0]], graph.values[mm.outputs[0]]
            b = graph.values[mm.inputs[1]]
            if a.shape is None or len(a.shape) != 2 or b.shape is None or len(b.shape) != 2:
                continue
            n = b.shape[1]
            if not isinstance(n, int) or not _is_row_bias(bias, n):
                continue
            if len(consumers.get(y.name, [])) != 1 or y.name in graph.outputs:
                continue
            mm.op_type = "Gemm"
            mm.inputs = [mm.inputs[0], mm.inputs[1], graph.add_const(f"{mm.name}_bias", bias.reshape(n))]
            if graph.bypass(add.outputs[0], y.name):
                graph.remove_nodes([add])
                result.changes["MatMul+Add -> Gemm"] += 1
            producers, consumers = graph.producers(), graph.consumers()
            break
    return result


def _is_row_bias(bias: np.ndarray, n: int) -> bool:
    # a bias that broadcasts along rows only: [N] or [1, N]; anything else changes the result shape
    return bias.size == n and bias.ndim <= 2 and bias.shape[-1] == n and np.issubdtype(bias.dtype, np.floating)
