"""Fold an inference BatchNormalization into the Conv/ConvTranspose/Gemm that feeds it.

BN(y) = (y - mean) * gamma / sqrt(var + eps) + beta is per output channel affine,
so it can be absorbed into the producer's weight (scale) and bias (shift). The
arithmetic is done in float64 and cast back once so the folded model matches the
unfolded one to float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from export.ir import Graph, Node
from export.passes.base import PassResult, register_pass

Folder = Callable[[Graph, Node, np.ndarray, np.ndarray], bool]


def _bn_affine(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    if len(bn.outputs) > 1 and any(bn.outputs[1:]) or bn.attr("training_mode", 0):
        return None
    params = [graph.const(i) for i in bn.inputs[1:5]]
    if len(params) != 4 or any(p is None for p in params):
        return None
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    scale = gamma / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
    return scale, beta - mean * scale


def _set_weight_and_bias(graph: Graph, node: Node, weight: np.ndarray, bias: np.ndarray, dtype) -> None:
    # new constants rather than in-place edits: the old weight may be shared with another node
    node.inputs[1] = graph.add_const(f"{node.name}_W_bnfold", weight.astype(dtype))
    b_name = graph.add_const(f"{node.name}_B_bnfold", bias.astype(dtype))
    if len(node.inputs) > 2:
        node.inputs[2] = b_name
    else:
        node.inputs.append(b_name)


def _old_bias(graph: Graph, node: Node, channels: int) -> np.ndarray | None:
    if len(node.inputs) < 3 or not node.inputs[2]:
        return np.zeros(channels)
    b = graph.const(node.inputs[2])
    return None if b is None else b.astype(np.float64)


def _fold_conv(graph: Graph, conv: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    w = graph.const(conv.inputs[1])
    if w is None or w.shape[0] != scale.size:
        return False
    b = _old_bias(graph, conv, scale.size)
    if b is None or b.size != scale.size:
        return False
    w64 = w.astype(np.float64) * scale.reshape(-1, *([1] * (w.ndim - 1)))
    _set_weight_and_bias(graph, conv, w64, b.reshape(-1) * scale + shift, w.dtype)
    return True


def _fold_conv_transpose(graph: Graph, conv: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    w = graph.const(conv.inputs[1])  # [C_in, M/group, k...]; output channel = g * (M/group) + j
    group = int(conv.attr("group", 1))
    if w is None or w.shape[1] * group != scale.size:
        return False
    b = _old_bias(graph, conv, scale.size)
    if b is None or b.size != scale.size:
        return False
    per_group = w.astype(np.float64).reshape(group, w.shape[0] // group, w.shape[1], *w.shape[2:])
    factor = scale.reshape(group, 1, w.shape[1], *([1] * (w.ndim - 2)))
    _set_weight_and_bias(graph, conv, (per_group * factor).reshape(w.shape), b * scale + shift, w.dtype)
    return True


def _fold_gemm(graph: Graph, gemm: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    b = graph.const(gemm.inputs[1])
    if b is None or b.ndim != 2:
        return False
    trans_b = int(gemm.attr("transB", 0))
    n_out = b.shape[0] if trans_b else b.shape[1]
    if n_out != scale.size:
        return False
    c = _old_bias(graph, gemm, n_out)
    if c is None or c.size not in (1, n_out) or (c.ndim == 2 and c.shape[0] != 1):
        return False
    alpha, beta = float(gemm.attr("alpha", 1.0)), float(gemm.attr("beta", 1.0))
    b64 = alpha * b.astype(np.float64)
    b64 = b64 * (scale[:, None] if trans_b else scale[None, :])
    c64 = np.broadcast_to(beta * c.reshape(-1), (n_out,)) * scale + shift
    _set_weight_and_bias(graph, gemm, b64, c64, b.dtype)
    gemm.attrs["alpha"], gemm.attrs["beta"] = 1.0, 1.0
    return True


_FOLDERS: dict[str, Folder] = {"Conv": _fold_conv, "ConvTranspose": _fold_conv_transpose, "Gemm": _fold_gemm}


@register_pass("bn_folding")
def run(graph: Graph) -> PassResult:
    result = PassResult("bn_folding")
    producers, consumers = graph.producers(), graph.consumers()
    for bn in list(graph.nodes):
        if bn.op_type != "BatchNormalization":
            continue
        prev = producers.get(bn.inputs[0])
        if prev is None or prev.op_type not in _FOLDERS or prev.attr("activation"):
            continue
        mid = prev.outputs[0]
        # the un-normalized output must have no other reader, or folding would change it
        if len(consumers.get(mid, [])) != 1 or mid in graph.outputs:
            continue
        if prev.op_type == "Gemm" and len(graph.values[bn.inputs[0]].shape or []) != 2:
            continue
        # statistics are data: a zero or negative variance (or NaN) folds into NaN/Inf weights, exactly what
        # the unfolded BatchNormalization would compute, so NumPy's warnings about it are noise
        with np.errstate(all="ignore"):
            affine = _bn_affine(graph, bn)
            if affine is None or not _FOLDERS[prev.op_type](graph, prev, *affine):
                continue
        if graph.bypass(bn.outputs[0], mid):
            graph.remove_nodes([bn])
            result.changes[f"folded into {prev.op_type}"] += 1
        producers, consumers = graph.producers(), graph.consumers()
    return result
