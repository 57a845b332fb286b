"""256-entry uint8 lookup tables (the engine's ``QLinearLookup``: ``y = table[x]``).

An elementwise function of one uint8 activation (one op, or a region of them between one DequantizeLinear and
one QuantizeLinear: x * sigmoid(x), x * clip(x + 3, 0, 6) / 6, a Gelu's erf chain) is a table of its 256 codes,
computed offline as ONNX Runtime computes DequantizeLinear -> f -> QuantizeLinear in float32, op by op:
``float(q - zp) * scale`` (one rounding), ``f`` in float32 (the transcendental ones in float64, then rounded
to float32: ONNX Runtime's own approximations agree to within an ulp or two, which moves a code only where
``f(x) / y_scale`` lies within that of a rounding boundary), then ``saturate(rint(y / y_scale) + zp)``, half to even.

The same tables requantize (a DequantizeLinear -> QuantizeLinear pair with different grids), and compose: a
table after a table is one table; ``QLinearMul(x, table[x])`` (SiLU and HardSwish as ONNX Runtime quantizes
them: a sigmoid's table, then a product) is one table computed with the engine's own QLinearMul arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from export.ir import Graph, Node
from export.quantized.params import QParams, dequantize, quantize

CODES = np.arange(256, dtype=np.uint8)
Fn = Callable[[np.ndarray], np.ndarray]
_F32 = np.float32


def _f64(fn: Callable[[np.ndarray], np.ndarray]) -> Fn:
    """A transcendental function evaluated in float64 and rounded once to float32."""
    return lambda x: fn(x.astype(np.float64)).astype(np.float32)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(approximate: str) -> Fn | None:
    if approximate == "none":
        return _f64(lambda x: 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0))))
    if approximate == "tanh":
        return _f64(lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))))
    return None


def _scalar(graph: Graph, name: str) -> np.float32 | None:
    arr = graph.const(name) if name else None
    if arr is None or arr.size != 1 or not np.issubdtype(arr.dtype, np.floating):
        return None
    return _F32(arr.reshape(-1)[0])


def _clip(graph: Graph, node: Node) -> Fn | str:
    bounds = []
    for k in (1, 2):
        name = node.inputs[k] if len(node.inputs) > k else ""
        if not name:
            bounds.append(None)
            continue
        b = _scalar(graph, name)
        if b is None:
            return f"Clip bound '{name}' is not a constant scalar"
        bounds.append(b)
    lo, hi = bounds

    def fn(x: np.ndarray) -> np.ndarray:
        if lo is not None:
            x = np.maximum(x, lo)
        if hi is not None:
            x = np.minimum(x, hi)
        return x

    return fn


def _hard_sigmoid(alpha: float, beta: float) -> Fn:
    a, b = _F32(alpha), _F32(beta)
    return lambda x: np.clip(a * x + b, _F32(0), _F32(1)).astype(np.float32)


_UNARY: dict[str, Callable[[Graph, Node], Fn | str | None]] = {
    "Relu": lambda g, n: lambda x: np.maximum(x, _F32(0)),
    "Clip": _clip,
    "LeakyRelu": lambda g, n: (lambda a: lambda x: np.where(x >= 0, x, x * a).astype(np.float32))(
        _F32(n.attr("alpha", 0.01))),
    "HardSigmoid": lambda g, n: _hard_sigmoid(n.attr("alpha", 0.2), n.attr("beta", 0.5)),
    "HardSwish": lambda g, n: (lambda hs: lambda x: (x * hs(x)).astype(np.float32))(_hard_sigmoid(1 / 6, 0.5)),
    "Sigmoid": lambda g, n: _f64(lambda x: 1.0 / (1.0 + np.exp(-x))),
    "SiLU": lambda g, n: _f64(lambda x: x / (1.0 + np.exp(-x))),
    "Tanh": lambda g, n: _f64(np.tanh),
    "Gelu": lambda g, n: _gelu(n.attr("approximate", "none")),
    "Erf": lambda g, n: _f64(_ERF),
    "Elu": lambda g, n: (lambda a: _f64(lambda x: np.where(x > 0, x, a * np.expm1(x))))(float(n.attr("alpha", 1.0))),
    "Selu": lambda g, n: (lambda a, s: _f64(lambda x: s * np.where(x > 0, x, a * np.expm1(x))))(
        float(n.attr("alpha", 1.67326319217681884765625)), float(n.attr("gamma", 1.05070102214813232421875))),
    "Softplus": lambda g, n: _f64(lambda x: np.logaddexp(0.0, x)),
    "Softsign": lambda g, n: _f64(lambda x: x / (1.0 + np.abs(x))),
    "Abs": lambda g, n: np.abs,
    "Neg": lambda g, n: np.negative,
}

# binary ops with one constant scalar operand are functions of the other: x + c, c * x, x / c, max(x, c), ...
_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Max": np.maximum, "Min": np.minimum,
}

TABLE_OPS = frozenset(_UNARY) | frozenset(_BINARY)


def evaluate(graph: Graph, node: Node, arrays: dict[str, np.ndarray]) -> np.ndarray | str:
    """``node`` in float32 on ``arrays`` (its non-constant inputs, already computed), as ONNX Runtime computes it;
    every other input must be a constant scalar. Why not, when it cannot be."""
    if node.op_type in _UNARY:
        data = node.inputs[0] if node.inputs else ""
        if data not in arrays or any(i in arrays for i in node.inputs[1:]):
            return "its quantized input is not its data input"
        fn = _UNARY[node.op_type](graph, node)
        if isinstance(fn, str) or fn is None:
            return fn or f"{node.op_type} with these attributes has no table form"
        return np.asarray(fn(arrays[data]), dtype=np.float32)
    if node.op_type in _BINARY and len(node.inputs) == 2:
        operands = []
        for name in node.inputs:
            if name in arrays:
                operands.append(arrays[name])
                continue
            c = _scalar(graph, name)
            if c is None:
                return f"operand '{name}' is neither quantized nor a constant scalar"
            operands.append(c)
        return np.asarray(_BINARY[node.op_type](*operands), dtype=np.float32)
    return f"no integer kernel for {node.op_type}"


def requantize_table(p_in: QParams, p_out: QParams) -> np.ndarray:
    return quantize(dequantize(CODES, p_in), p_out)


def mul_table(b: np.ndarray, pa: QParams, pb: QParams, py: QParams) -> np.ndarray:
    """``QLinearMul(x, b[x])`` as the engine computes it (QUANTIZED.md "Elementwise"), for the 256 codes x."""
    m = _F32(pa.s() * pb.s()) / py.s()
    prod = (CODES.astype(np.int64) - pa.z()) * (b.astype(np.int64) - pb.z())
    return _saturate(np.rint(prod.astype(np.float32) * m), py, 0)


def add_table(b: np.ndarray, pa: QParams, pb: QParams, py: QParams, relu: bool) -> np.ndarray:
    """``QLinearAdd(x, b[x])`` as the engine computes it, with its optional Relu (a clamp at the zero point)."""
    ra, rb = _F32(pa.s() / py.s()), _F32(pb.s() / py.s())
    a = (CODES.astype(np.int64) - pa.z()).astype(np.float32)
    bb = (b.astype(np.int64) - pb.z()).astype(np.float32)
    return _saturate(np.rint(a * ra + bb * rb), py, py.z() if relu else 0)


def _saturate(v: np.ndarray, py: QParams, qmin: int) -> np.ndarray:
    return np.clip(v.astype(np.float64) + py.z(), max(qmin, 0), 255).astype(np.uint8)
