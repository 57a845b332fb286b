"""A small NumPy evaluator for the ONNX ops that appear in shape computations and on weights.

Used by constant folding: a node whose inputs are all constants is evaluated
here once, offline. Semantics follow ONNX opset 17. Ops not listed are simply
not folded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from configs.registry import Registry
from export.ir import numpy_of_dtype

Arrays = list[np.ndarray | None]
Evaluator = Callable[[Arrays, dict[str, Any]], list[np.ndarray]]

EVALUATORS: Registry[Evaluator] = Registry("constant evaluator")


def evaluable(op_type: str) -> bool:
    return op_type in EVALUATORS


def evaluate(op_type: str, inputs: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    return EVALUATORS.get(op_type)(inputs, attrs)


def _numel(shape: Any) -> int:
    # exact Python ints: a hostile shape vector must not wrap around to something small
    n = 1
    for d in shape:
        if int(d) < 0:
            raise ValueError(f"negative dimension {int(d)} in {[int(v) for v in shape]}")
        n *= int(d)
    return n


# ops whose (first) result has at most as many elements as their first input, whatever the others hold
_SIZED_BY_INPUT0 = ("CumSum", "Trilu", "ScatterElements", "ScatterND", "TopK", "Sign")


def result_elements(op_type: str, x: Arrays, attrs: dict[str, Any]) -> int:
    """An upper bound of the result's element count, found without computing the result.

    Most ops make at most as many elements as they are given; the ones whose output size is set by the
    *values* of an input (a shape, repeats, a range) or by broadcasting are sized here, so that a graph
    cannot make constant folding allocate without bound.
    """
    arrays = [a for a in x if a is not None]
    given = sum(a.size for a in arrays)
    if op_type == "ConstantOfShape":
        return _numel(np.asarray(x[0]).reshape(-1))
    if op_type == "Expand":
        target = [int(d) for d in np.asarray(x[1]).reshape(-1)]
        _numel(target)  # negative dims
        return _numel(np.broadcast_shapes(x[0].shape, tuple(target)))
    if op_type == "Tile":
        reps = [int(r) for r in np.asarray(x[1]).reshape(-1)]
        if len(reps) != x[0].ndim:
            raise ValueError(f"Tile repeats {reps} do not match the input rank {x[0].ndim}")
        return _numel(d * r for d, r in zip(x[0].shape, reps)) if _numel(reps) else 0
    if op_type == "Range":
        start, limit, delta = (float(np.asarray(a).reshape(-1)[0]) for a in x[:3])
        if not all(np.isfinite([start, limit, delta])) or delta == 0:
            raise ValueError(f"Range({start}, {limit}, {delta}) has no finite length")
        return max(int(np.ceil((limit - start) / delta)), 0)
    if op_type == "Gather":
        axis = int(attrs.get("axis", 0))
        rest = [d for i, d in enumerate(x[0].shape) if i != axis % max(x[0].ndim, 1)]
        return x[1].size * _numel(rest)
    if op_type in _SIZED_BY_INPUT0:
        return x[0].size
    if op_type == "GatherElements":
        return x[1].size
    if op_type == "GatherND":
        b, k = int(attrs.get("batch_dims", 0)), int(x[1].shape[-1])
        return _numel(x[1].shape[:-1]) * _numel(x[0].shape[b + k:])
    if op_type == "OneHot":
        depth = float(np.asarray(x[1]).reshape(-1)[0])
        if not np.isfinite(depth) or depth < 0:
            raise ValueError(f"OneHot depth {depth} is not a size")
        return x[0].size * int(depth)
    if len(arrays) > 1 and op_type not in ("Concat", "Reshape", "Slice", "Squeeze", "Unsqueeze"):
        return max(_numel(np.broadcast_shapes(*(a.shape for a in arrays))), given)
    return given


def _op(*names: str) -> Callable[[Evaluator], Evaluator]:
    def deco(fn: Evaluator) -> Evaluator:
        for n in names:
            EVALUATORS.add(n, fn)
        return fn

    return deco


def _same_dtype(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    # NumPy promotes int32*int64 etc.; ONNX keeps the input type
    return np.asarray(result).astype(like.dtype, copy=False)


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Evaluator:
    def run(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
        # Max/Min are variadic in ONNX; a left fold covers them and the binary ops alike
        return [_same_dtype(functools.reduce(fn, x), x[0])]

    return run


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        # ONNX integer Div truncates toward zero (C semantics), unlike NumPy's floor division
        q = np.abs(a) // np.abs(b)
        return np.where((a < 0) ^ (b < 0), -q, q)
    return a / b


for _name, _fn in {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": _int_div,
    "Pow": np.power,
    "Max": np.maximum,
    "Min": np.minimum,
}.items():
    EVALUATORS.add(_name, _binary(_fn))


@_op("Mod")
def _mod(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    # fmod=0 (integers only in ONNX): the sign of the divisor, as NumPy's mod; fmod=1: the dividend's, as C
    a, b = x[0], x[1]
    if np.issubdtype(b.dtype, np.integer) and not np.all(b):
        raise ZeroDivisionError("Mod by zero")
    out = np.fmod(a, b) if attrs.get("fmod", 0) else np.mod(a, b)
    return [_same_dtype(np.asarray(out), a)]


for _name, _fn in {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}.items():
    EVALUATORS.add(_name, lambda x, _a, f=_fn: [np.asarray(f(x[0], x[1]))])


def _compare(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Evaluator:
    return lambda x, _a: [np.asarray(fn(x[0], x[1]))]


for _name, _fn in {
    "Equal": np.equal,
    "Less": np.less,
    "Greater": np.greater,
    "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal,
}.items():
    EVALUATORS.add(_name, _compare(_fn))


_UNARY = {
    "Neg": np.negative,
    "Abs": np.abs,
    "Sqrt": np.sqrt,
    "Reciprocal": np.reciprocal,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Exp": np.exp,
    "Not": np.logical_not,
    "Identity": lambda a: a,
}
for _name, _ufn in _UNARY.items():
    EVALUATORS.add(_name, lambda x, _a, f=_ufn: [_same_dtype(f(x[0]), x[0])])


@_op("Cast")
def _cast(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    return [x[0].astype(numpy_of_dtype(int(attrs["to"])))]


@_op("Shape")
def _shape(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    dims = np.asarray(x[0].shape, dtype=np.int64)
    return [dims[shape_slice(attrs)]]


def shape_slice(attrs: dict[str, Any]) -> slice:
    """Shape's start/end attributes (opset 15+) as a slice; Python clamps and wraps like ONNX."""
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return slice(start, None if end is None else int(end))


@_op("Size")
def _size(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    return [np.asarray(x[0].size, dtype=np.int64)]


@_op("Gather")
def _gather(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    return [np.take(x[0], x[1].astype(np.int64), axis=int(attrs.get("axis", 0)))]


@_op("Concat")
def _concat(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    return [np.concatenate([a for a in x if a is not None], axis=int(attrs["axis"]))]


def _axes(arr: np.ndarray | None) -> list[int]:
    return [] if arr is None else [int(a) for a in np.atleast_1d(arr)]


@_op("Unsqueeze")
def _unsqueeze(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    out_rank = x[0].ndim + len(_axes(x[1]))
    axes = sorted(a % out_rank for a in _axes(x[1]))
    y = x[0]
    for a in axes:
        y = np.expand_dims(y, a)
    return [y]


@_op("Squeeze")
def _squeeze(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    axes = _axes(x[1] if len(x) > 1 else None)
    return [np.squeeze(x[0], axis=tuple(a % x[0].ndim for a in axes) if axes else None)]


def reshape_target(in_shape: tuple[int, ...], shape: np.ndarray, allowzero: int) -> tuple[int, ...]:
    """ONNX Reshape's output shape: 0 copies the input dim (unless allowzero), -1 is inferred."""
    out = [int(s) for s in shape]
    if not allowzero:
        out = [in_shape[i] if s == 0 else s for i, s in enumerate(out)]
    if -1 in out:
        known = int(np.prod([s for s in out if s != -1]))
        out[out.index(-1)] = int(np.prod(in_shape)) // known if known else 0
    return tuple(out)


@_op("Reshape")
def _reshape(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    return [x[0].reshape(reshape_target(x[0].shape, x[1], int(attrs.get("allowzero", 0))))]


@_op("Flatten")
def _flatten(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    axis = int(attrs.get("axis", 1)) % (x[0].ndim + 1) if x[0].ndim else 0
    return [x[0].reshape(int(np.prod(x[0].shape[:axis])), -1)]


@_op("Transpose")
def _transpose(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    perm = attrs.get("perm")
    return [np.transpose(x[0], None if perm is None else [int(p) for p in perm])]


@_op("Slice")
def _slice(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    data, starts, ends = x[0], x[1], x[2]
    axes = _axes(x[3]) if len(x) > 3 and x[3] is not None else list(range(len(starts)))
    steps = _axes(x[4]) if len(x) > 4 and x[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        # ONNX clamps huge sentinels (INT64_MAX/MIN); Python slicing clamps the same way
        index[a % data.ndim] = slice(int(s), int(e), int(st))
    return [data[tuple(index)]]


@_op("Range")
def _range(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    start, limit, delta = (a.item() for a in x[:3])
    return [np.arange(start, limit, delta, dtype=x[0].dtype)]


@_op("ConstantOfShape")
def _constant_of_shape(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    fill = np.asarray(attrs.get("value", np.zeros(1, np.float32))).reshape(-1)
    return [np.full([int(d) for d in x[0]], fill[0], dtype=fill.dtype)]


@_op("Where")
def _where(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    return [np.where(x[0], x[1], x[2]).astype(x[1].dtype, copy=False)]


@_op("Expand")
def _expand(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    # ONNX Expand broadcasts both ways (a 1 in the target keeps the input dim)
    target = np.broadcast_shapes(x[0].shape, tuple(int(d) for d in x[1]))
    return [np.broadcast_to(x[0], target).copy()]


@_op("Tile")
def _tile(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    return [np.tile(x[0], [int(r) for r in x[1]])]


def _reduce(fn: Callable[..., np.ndarray]) -> Evaluator:
    def run(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
        # ReduceSum takes axes as an input since opset 13 (all reductions since 18); before, an attribute
        axes = _axes(x[1]) if len(x) > 1 and x[1] is not None else list(attrs.get("axes", []))
        if not axes and attrs.get("noop_with_empty_axes", 0):
            return [x[0]]
        out = fn(x[0], axis=tuple(axes) if axes else None, keepdims=bool(attrs.get("keepdims", 1)))
        return [_same_dtype(out, x[0])]

    return run


for _name, _fn in {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min}.items():
    EVALUATORS.add(_name, _reduce(_fn))


@_op("Sign")
def _sign(x: Arrays, _: dict[str, Any]) -> list[np.ndarray]:
    return [_same_dtype(np.sign(x[0]), x[0])]


@_op("CumSum")
def _cumsum(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    data, axis = x[0], int(np.asarray(x[1]).reshape(-1)[0])
    y = np.flip(data, axis) if attrs.get("reverse", 0) else data
    out = np.cumsum(y, axis=axis, dtype=data.dtype)
    if attrs.get("exclusive", 0):
        # shift by one along the axis: the first element of each run becomes 0
        out = np.concatenate([np.zeros_like(np.take(out, [0], axis)), np.delete(out, -1, axis)], axis)
    return [np.flip(out, axis) if attrs.get("reverse", 0) else out]


@_op("Trilu")
def _trilu(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    k = int(np.asarray(x[1]).reshape(-1)[0]) if len(x) > 1 and x[1] is not None else 0
    return [np.triu(x[0], k) if int(attrs.get("upper", 1)) else np.tril(x[0], k)]


def _check_indices(idx: np.ndarray, dims: Any) -> np.ndarray:
    """Indices wrapped into [0, dim); out-of-range ones are an error (NumPy would wrap or fail unevenly)."""
    idx, dims = idx.astype(np.int64), np.asarray(dims, dtype=np.int64)
    if np.any(idx < -dims) or np.any(idx >= dims):
        raise IndexError("an index is out of range")
    return np.where(idx < 0, idx + dims, idx)


@_op("GatherElements")
def _gather_elements(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    axis = int(attrs.get("axis", 0)) % x[0].ndim
    idx = _check_indices(x[1], x[0].shape[axis])
    # off the axis, indices may be shorter than data: only that corner of data is read
    corner = tuple(slice(None) if a == axis else slice(0, n) for a, n in enumerate(idx.shape))
    return [np.take_along_axis(x[0][corner], idx, axis)]


_REDUCERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray] | None] = {
    "none": None, "add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


@_op("ScatterElements")
def _scatter_elements(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    data, updates = x[0], x[2]
    axis = int(attrs.get("axis", 0)) % data.ndim
    idx = _check_indices(x[1], data.shape[axis])
    fn = _REDUCERS[str(attrs.get("reduction", "none"))]
    out = data.copy()
    for pos in np.ndindex(*idx.shape):  # in order: the last of duplicate indices wins, reductions accumulate
        target = list(pos)
        target[axis] = int(idx[pos])
        t = tuple(target)
        out[t] = updates[pos] if fn is None else fn(out[t], updates[pos])
    return [out]


@_op("ScatterND")
def _scatter_nd(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    data, updates = x[0], x[2]
    k = x[1].shape[-1]
    idx = _check_indices(x[1], data.shape[:k])
    fn = _REDUCERS[str(attrs.get("reduction", "none"))]
    out = data.copy()
    for pos in np.ndindex(*idx.shape[:-1]):
        t = tuple(int(v) for v in idx[pos])
        out[t] = updates[pos] if fn is None else fn(out[t], updates[pos])
    return [out]


@_op("GatherND")
def _gather_nd(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    data, b = x[0], int(attrs.get("batch_dims", 0))
    k = x[1].shape[-1]
    idx = _check_indices(x[1], data.shape[b:b + k])
    batch = idx.shape[:b]
    flat_data = data.reshape((-1, *data.shape[b:]))
    flat_idx = idx.reshape((-1, *idx.shape[b:]))
    out = [d[tuple(np.moveaxis(i, -1, 0))] for d, i in zip(flat_data, flat_idx)]
    return [np.stack(out).reshape(*batch, *idx.shape[b:-1], *data.shape[b + k:])]


@_op("OneHot")
def _one_hot(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    depth = int(float(np.asarray(x[1]).reshape(-1)[0]))
    values = np.asarray(x[2]).reshape(-1)
    idx = x[0].astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    axis = int(attrs.get("axis", -1)) % (idx.ndim + 1)
    hot = np.expand_dims(idx, axis) == np.arange(depth).reshape([-1 if a == axis else 1 for a in range(idx.ndim + 1)])
    return [np.where(hot, values[1], values[0]).astype(values.dtype)]


@_op("TopK")
def _topk(x: Arrays, attrs: dict[str, Any]) -> list[np.ndarray]:
    data, k = x[0], int(np.asarray(x[1]).reshape(-1)[0])
    axis = int(attrs.get("axis", -1)) % data.ndim
    # a stable sort keeps equal values in index order, as ONNX wants for ties
    keys = -data if int(attrs.get("largest", 1)) else data
    if data.dtype.kind == "u":
        keys = np.iinfo(data.dtype).max - data if int(attrs.get("largest", 1)) else data
    order = np.argsort(keys, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(data, idx, axis), idx.astype(np.int64)]
