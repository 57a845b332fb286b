"""Scale and zero point of QuantizeLinear / DequantizeLinear nodes: read, checked and normalized on the IR.

``normalize(graph)`` runs once before the passes (``export.converter.prepare_graph``, also without
optimization), so that everything after it sees one form:

- every scale is a constant float32, finite and > 0, a 0-d array (per tensor) or 1-D (per axis, its length
  equal to the input's dim along ``axis``); every zero point is explicit, a constant of the scale's shape,
  uint8/int8 (int32 for a DequantizeLinear of int32 codes, where it must be 0);
- activations are uint8: an int8 activation (ONNX Runtime's ``QInt8``) becomes uint8 with the zero point moved
  by +128 (``q_u8 = q_s8 + 128``, same scale: every dequantized value stays the same), through the layout ops
  that carry it between a QuantizeLinear and its DequantizeLinears;
- a QuantizeLinear of a float constant (a weight kept in float behind Q -> DQ) becomes the integer constant.

Weights (DequantizeLinear of an integer constant) keep their int8/uint8 codes and zero points here: folding
into an integer op decides what it needs (``weight_codes``).
Everything wrong is a ModelFormatError of kind ``quantization`` naming the node and the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from export.errors import ModelFormatError, node_label
from export.ir import Graph, Node, dtype_name
from export.quantized import QUANTIZATION_KIND

Q, DQ = "QuantizeLinear", "DequantizeLinear"
U8, I8, I32 = TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32
_NP = {U8: np.uint8, I8: np.int8, I32: np.int32}
_RANGE = {U8: (0, 255), I8: (-128, 127), I32: (-(2**31), 2**31 - 1)}

# ops that move or select elements without computing on them: an activation's codes pass through them as they
# are (so do its int8 -> uint8 shift and, where both sides share scale and zero point, quantization itself)
LAYOUT_OPS = frozenset({
    "MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Split", "Slice", "Pad", "DepthToSpace",
    "SpaceToDepth", "Gather", "Identity", "Resize", "Concat",
})


def fail(node: Node, field: str, problem: str) -> ModelFormatError:
    return ModelFormatError(f"{field}: {problem}", kind=QUANTIZATION_KIND, where=node_label(node.name, node.op_type))


@dataclass(frozen=True)
class QParams:
    """One Q/DQ node's grid: ``scale`` float32 and ``zero_point`` (0-d per tensor, 1-D per axis)."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None  # None: per tensor

    @property
    def per_tensor(self) -> bool:
        return self.axis is None

    @property
    def dtype(self) -> int:
        return {np.dtype(v): k for k, v in _NP.items()}[self.zero_point.dtype]

    def same(self, other: QParams) -> bool:
        """The same grid, bit for bit (what makes a DequantizeLinear -> QuantizeLinear pair an identity)."""
        return (self.axis == other.axis and self.scale.shape == other.scale.shape
                and self.scale.tobytes() == other.scale.tobytes() and self.zero_point.dtype == other.zero_point.dtype
                and np.array_equal(self.zero_point, other.zero_point))

    def s(self) -> np.float32:
        return np.float32(self.scale.reshape(-1)[0])

    def z(self) -> int:
        return int(self.zero_point.reshape(-1)[0])


def params(graph: Graph, node: Node) -> QParams:
    """The grid of a normalized Q/DQ node (``normalize`` has made both inputs explicit constants)."""
    scale, zp = graph.const(node.inputs[1]), graph.const(node.inputs[2])
    assert scale is not None and zp is not None, f"{node.name}: Q/DQ not normalized"
    return QParams(scale, zp, None if scale.ndim == 0 else int(node.attrs["axis"]))


def dequantize(codes: np.ndarray, p: QParams) -> np.ndarray:
    """ONNX Runtime's DequantizeLinear in float32: ``float(q - zp) * scale``."""
    scale, zp = _broadcast(p, codes.ndim)
    return ((codes.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)


def quantize(x: np.ndarray, p: QParams) -> np.ndarray:
    """ONNX Runtime's QuantizeLinear in float32: ``saturate(rint(x / scale) + zp)`` (half to even)."""
    scale, zp = _broadcast(p, x.ndim)
    lo, hi = _RANGE[p.dtype]
    with np.errstate(all="ignore"):
        y = np.rint(x.astype(np.float32) / scale).astype(np.float64) + zp
    return np.clip(np.nan_to_num(y, nan=0.0), lo, hi).astype(_NP[p.dtype])


def _broadcast(p: QParams, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    if p.axis is None:
        return p.scale.reshape(()), p.zero_point.astype(np.int64).reshape(())
    shape = [1] * ndim
    shape[p.axis] = -1
    return p.scale.reshape(shape), p.zero_point.astype(np.int64).reshape(shape)


# ---- checks ------------------------------------------------------------------------------------
def _rank(graph: Graph, name: str) -> int | None:
    v = graph.values.get(name)
    return None if v is None or v.shape is None else len(v.shape)


def _check(graph: Graph, node: Node) -> tuple[np.ndarray, np.ndarray, int | None, int]:
    """Scale, zero point (explicit), axis (None per tensor) and the integer dtype of one Q/DQ node."""
    if len(node.inputs) < 2 or not node.inputs[1]:
        raise fail(node, "x_scale", "missing")
    scale = graph.const(node.inputs[1])
    if scale is None:
        raise fail(node, f"scale '{node.inputs[1]}'", "is computed at run time; the engine's integer ops need "
                   "constant scales (a dynamically quantized model: quantize it statically)")
    if scale.dtype != np.float32:
        raise fail(node, f"scale '{node.inputs[1]}'", f"is {scale.dtype}; only float32 scales are supported")
    if scale.ndim > 1:
        raise fail(node, f"scale '{node.inputs[1]}'", f"has shape {list(scale.shape)}: blocked quantization (scale "
                   "of rank > 1) is not supported")
    if scale.size == 0:
        raise fail(node, f"scale '{node.inputs[1]}'", "is empty")
    bad = ~np.isfinite(scale) | (scale <= 0)
    if bad.any():
        raise fail(node, f"scale '{node.inputs[1]}'", f"is {float(scale.reshape(-1)[np.argmax(bad.reshape(-1))])}; "
                   "a scale must be finite and > 0")
    zp_name = node.inputs[2] if len(node.inputs) > 2 else ""
    zp = graph.const(zp_name) if zp_name else None
    if zp_name and zp is None:
        raise fail(node, f"zero point '{zp_name}'", "is computed at run time; it must be a constant")
    if node.op_type == Q:
        x = graph.values.get(node.inputs[0])
        if x is not None and x.dtype and x.dtype != TensorProto.FLOAT:
            raise fail(node, f"input '{node.inputs[0]}'", f"is {dtype_name(x.dtype)}; only float32 is quantized")
        dtype = U8 if zp is None else _zp_dtype(node, zp_name, zp)
        if dtype == I32:
            raise fail(node, f"zero point '{zp_name}'", "is int32; QuantizeLinear produces uint8 or int8")
    else:
        x = graph.values.get(node.inputs[0])
        xd = x.dtype if x is not None else 0
        if xd not in (U8, I8, I32):
            raise fail(node, f"input '{node.inputs[0]}'", f"is {dtype_name(xd) if xd else 'of unknown type'}; the "
                       "engine dequantizes uint8, int8 and int32 codes")
        dtype = xd
        if zp is not None and _zp_dtype(node, zp_name, zp) != xd:
            raise fail(node, f"zero point '{zp_name}'", f"is {zp.dtype} but the input is {dtype_name(xd)}")
    if zp is None:
        zp = np.zeros(scale.shape, _NP[dtype])
    if zp.size != scale.size or zp.ndim > 1:
        raise fail(node, f"zero point '{zp_name}'", f"has shape {list(zp.shape)}, the scale {list(scale.shape)}")
    zp = zp.reshape(scale.shape)
    if dtype == I32 and zp.any():
        raise fail(node, f"zero point '{zp_name}'", f"is {int(zp.reshape(-1)[np.argmax(zp.reshape(-1) != 0)])}, out "
                   "of range: int32 codes (a bias) must have zero point 0")
    axis = None
    if scale.ndim == 1 and scale.size > 1:
        rank = _rank(graph, node.inputs[0])
        axis = int(node.attrs.get("axis", 1))
        if rank is None:
            raise fail(node, "axis", "per-axis quantization of a tensor of unknown rank")
        if not -rank <= axis < rank:
            raise fail(node, "axis", f"{axis} is out of range for rank {rank}")
        axis %= rank
        dim = graph.values[node.inputs[0]].shape[axis]
        if isinstance(dim, int) and dim != scale.size:
            raise fail(node, f"scale '{node.inputs[1]}'", f"has {scale.size} entries (per axis {axis}) but input "
                       f"'{node.inputs[0]}' has {dim} along axis {axis}")
    else:  # a 1-element 1-D scale is per tensor, as ONNX Runtime reads it
        scale, zp = scale.reshape(()), zp.reshape(())
    return scale, zp, axis, dtype


def _zp_dtype(node: Node, name: str, zp: np.ndarray) -> int:
    for code, dt in _NP.items():
        if zp.dtype == dt:
            return code
    raise fail(node, f"zero point '{name}'", f"is {zp.dtype}; the engine's quantization is 8-bit (uint8/int8 "
               "codes, int32 for a bias)")


# ---- normalization -----------------------------------------------------------------------------
@dataclass
class Normalization:
    """What ``normalize`` did (for the conversion report)."""

    nodes: int = 0  # QuantizeLinear/DequantizeLinear nodes checked
    int8_activations: int = 0  # activations moved from int8 to uint8
    folded_weights: int = 0  # QuantizeLinear of a float constant replaced by its codes

    def summary(self) -> str:
        if not self.nodes:
            return "none (no QuantizeLinear/DequantizeLinear)"
        parts = [f"{self.nodes} QuantizeLinear/DequantizeLinear checked"]
        if self.int8_activations:
            parts.append(f"{self.int8_activations} int8 activations mapped to uint8 (zero point + 128)")
        if self.folded_weights:
            parts.append(f"{self.folded_weights} quantized float weights stored as integers")
        return ", ".join(parts)


def _canonical_const(graph: Graph, name: str, array: np.ndarray) -> str:
    """``name`` when it already holds exactly ``array`` (dtype and shape), else a new constant."""
    cur = graph.const(name) if name else None
    if cur is not None and cur.dtype == array.dtype and cur.shape == array.shape and np.array_equal(cur, array):
        return name
    return graph.add_const(f"{name or 'zero_point'}_norm", array)


def normalize(graph: Graph) -> Normalization:
    """Check and normalize every QuantizeLinear/DequantizeLinear (see the module docstring)."""
    result = Normalization()
    for node in graph.nodes:
        if node.op_type not in (Q, DQ) or node.domain not in ("", "ai.onnx"):
            continue
        result.nodes += 1
        scale, zp, axis, _ = _check(graph, node)
        node.inputs = [node.inputs[0], _canonical_const(graph, node.inputs[1], scale),
                       _canonical_const(graph, node.inputs[2] if len(node.inputs) > 2 else "", zp)]
        node.attrs = {} if axis is None else {"axis": axis}
        if node.op_type == Q:
            out = graph.values[node.outputs[0]]
            out.dtype = _zp_dtype(node, node.inputs[2], zp)
    result.folded_weights = _fold_quantized_constants(graph)
    result.int8_activations = _int8_activations_to_uint8(graph)
    return result


def _fold_quantized_constants(graph: Graph) -> int:
    """QuantizeLinear(float constant) -> its integer codes, a constant (exporters that keep float weights)."""
    folded = []
    for node in graph.nodes:
        if node.op_type != Q or node.outputs[0] in graph.outputs:
            continue
        x = graph.const(node.inputs[0])
        if x is None:
            continue
        codes = quantize(x, params(graph, node))
        out = graph.values[node.outputs[0]]
        out.const, out.shape = codes, list(codes.shape)
        folded.append(node)
    graph.remove_nodes(folded)
    return len(folded)


def _int8_activations_to_uint8(graph: Graph) -> int:
    """Every int8 activation becomes uint8 with zero point + 128 (see the module docstring)."""
    producers, consumers = graph.producers(), graph.consumers()
    seeds = [n.outputs[0] for n in graph.nodes if n.op_type == Q and graph.values[n.outputs[0]].dtype == I8]
    todo, seen = list(seeds), set(seeds)
    # the int8 activations: what a QuantizeLinear writes, and what layout ops make of it
    while todo:
        name = todo.pop()
        if name in graph.outputs:
            raise ModelFormatError(
                "is an int8 activation: the engine's activations are uint8 and the converter does not change a "
                "graph's interface (make the model output float or uint8)", kind=QUANTIZATION_KIND,
                where=f"graph output '{name}'")
        for c in consumers.get(name, []):
            if c.op_type == DQ and c.inputs[0] == name:
                continue
            if c.op_type == "Resize" and c.attrs.get("mode", "nearest") != "nearest":
                raise fail(c, f"input '{name}'", f"is an int8 activation resized in mode '{c.attrs.get('mode')}'; "
                           "only nearest resizing commutes with the move to uint8")
            if c.op_type in LAYOUT_OPS and c.inputs[0] == name or c.op_type == "Concat":
                for o in c.outputs:
                    if o and o not in seen:
                        seen.add(o)
                        todo.append(o)
                continue
            raise fail(c, f"input '{name}'", "is an int8 activation read by an op that is not a DequantizeLinear "
                       "or a layout op; the engine's activations are uint8 and the converter cannot shift what "
                       f"{c.op_type} computes on int8 codes")
    if not seen:
        return 0
    for name in seen:
        producer = producers.get(name)
        if producer is None:
            raise ModelFormatError("is an int8 graph input feeding quantized ops: the engine's activations are "
                                   "uint8 and the converter does not change a graph's interface",
                                   kind=QUANTIZATION_KIND, where=f"graph input '{name}'")
        graph.values[name].dtype = U8
    shifted: dict[str, str] = {}

    def shift(name: str) -> str:
        """A uint8 constant holding int8 constant ``name`` + 128 (made once per constant)."""
        if name not in shifted:
            arr = graph.const(name)
            shifted[name] = graph.add_const(f"{name}_u8", (arr.astype(np.int16) + 128).astype(np.uint8))
        return shifted[name]

    for node in graph.nodes:
        if (node.op_type == Q and node.outputs[0] in seen) or (node.op_type == DQ and node.inputs[0] in seen):
            node.inputs[2] = shift(node.inputs[2])
        elif any(o in seen for o in node.outputs):
            # a layout op carrying int8 codes: its other int8 inputs are constants (a Pad value, a Concat
            # operand) or activations of the set, which are shifted too
            for k, i in enumerate(node.inputs):
                v = graph.values.get(i) if i else None
                if v is None or v.dtype != I8:
                    continue
                if v.is_const and (k == 0 or node.op_type in ("Concat", "Pad")):
                    node.inputs[k] = shift(i)
                elif not v.is_const and i not in seen:
                    raise fail(node, f"input '{i}'", "is an int8 tensor that no QuantizeLinear produces")
    return len(seen)


def weight_codes(graph: Graph, dq: Node, p: QParams, role: str) -> np.ndarray:
    """The int8 codes, zero point 0, of a constant weight read by ``dq`` (QUANTIZED.md "Weights").

    int8 with zero point 0 are taken as they are; any other zero point (uint8 with 128 is the common one) is
    subtracted, which is exact when every ``q - zp`` fits int8; otherwise the weight is refused.
    """
    codes = graph.const(dq.inputs[0])
    assert codes is not None
    if codes.dtype == np.int8 and not p.zero_point.any():
        return codes
    _, zp = _broadcast(p, codes.ndim)
    centered = codes.astype(np.int64) - zp
    lo, hi = (int(centered.min()), int(centered.max())) if centered.size else (0, 0)
    if lo < -128 or hi > 127:
        zps = sorted({int(z) for z in p.zero_point.reshape(-1)})
        shown = ", ".join(str(z) for z in zps[:4]) + (", ..." if len(zps) > 4 else "")
        raise fail(dq, f"zero point '{dq.inputs[2]}' of {role} '{dq.inputs[0]}'",
                   f"is {shown} ({codes.dtype} codes): the codes minus the zero point span [{lo}, {hi}], outside "
                   "int8; the engine's integer kernels take symmetric int8 weights (zero point 0, or uint8 with "
                   "zero point 128): quantize the weights symmetrically")
    return centered.astype(np.int8)
