"""Fold DequantizeLinear -> op -> QuantizeLinear groups into the engine's integer ops (engine/QUANTIZED.md).

The graph comes normalized (``export.quantized.params.normalize``): explicit constant scales and zero points,
uint8 activations. Rewrites, repeated until none applies:

- a DequantizeLinear read by a layout op (MaxPool, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Split,
  Slice, Pad, DepthToSpace, SpaceToDepth, Gather, Identity, Resize nearest, Concat of one grid) moves below it:
  the layout op runs on the uint8 codes (it commutes with the elementwise, non-decreasing dequantization);
  a QuantizeLinear after a layout op moves above it the same way;
- DequantizeLinear -> QuantizeLinear: on the same grid the pair cancels; on another grid it becomes one
  QLinearLookup (the requantization table);
- an op whose inputs are dequantized uint8 codes and whose output is quantized becomes one integer op:
  Conv (+ Relu/Clip) -> QLinearConv, Gemm -> QGemm (a float output: QGemm without y_scale), MatMul with a
  constant int8 weight -> QLinearMatMul (or QGemm with a float output), Add (+ Relu) / Mul -> QLinearAdd /
  QLinearMul, GlobalAveragePool and ReduceMean over H, W -> QLinearGlobalAveragePool (AveragePool stays
  float: no integer kernel yet), Concat of different grids -> QLinearConcat, an elementwise function of one activation
  (HardSwish, HardSigmoid, Sigmoid, SiLU, Tanh, Gelu, LeakyRelu, Relu, Clip, x op constant, ...) ->
  QLinearLookup;
- a lookup after a lookup is one lookup; QLinearMul / QLinearAdd of x and table[x] is one lookup.

What does not fold stays in float between the DequantizeLinear / QuantizeLinear engine ops; ``explain`` says
why, for the conversion report. Weights stay int8 constants (a float island dequantizes them at run time), biases
become int32 on the grid ``x_scale * w_scale[n]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import TensorProto

from export.errors import ModelFormatError, node_label
from export.ir import Graph, Node, Value, dtype_name
from export.passes.base import PassResult, register_pass
from export.quantized.params import (
    DQ,
    LAYOUT_OPS,
    Q,
    QParams,
    dequantize,
    fail,
    params,
    quantize,
    weight_codes,
)
from export.quantized.tables import (
    CODES,
    TABLE_OPS,
    add_table,
    evaluate,
    mul_table,
    requantize_table,
)

U8, I8, I32 = TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32
INT8_OPS = frozenset({"QLinearConv", "QGemm", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool",
                      "QLinearAveragePool", "QLinearConcat", "QLinearLookup"})
ACC_LIMIT = 2**31
Apply = Callable[[], str]  # performs a rewrite, returns what it did (a PassResult key)
Lazy = str | tuple[str, np.ndarray]  # a value, or a constant to add when a rewrite is applied (base name, data)
Match = Apply | str  # a rewrite, or why there is none


class _Ctx:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.refresh()

    def refresh(self) -> None:
        self.producers = self.g.producers()
        self.consumers = self.g.consumers()

    def uses(self, value: str) -> list[Node]:
        return self.consumers.get(value, [])

    def private(self, value: str) -> bool:
        return len(self.uses(value)) == 1 and value not in self.g.outputs

    def producer(self, value: str, op: str) -> Node | None:
        n = self.producers.get(value)
        return n if n is not None and n.op_type == op and n.domain in ("", "ai.onnx") else None

    def dtype(self, name: str) -> int:
        v = self.g.values.get(name)
        return v.dtype if v is not None else 0

    def rank(self, name: str) -> int | None:
        v = self.g.values.get(name)
        return None if v is None or v.shape is None else len(v.shape)

    # -- the quantized inputs of an op --
    def activation(self, value: str) -> tuple[Node, QParams] | str:
        """``value`` = DequantizeLinear(uint8 activation codes, per tensor)."""
        dq = self.producer(value, DQ)
        if dq is None:
            return f"input '{value}' is not quantized"
        p = params(self.g, dq)
        if not p.per_tensor:
            return f"input '{value}' is quantized per axis"
        if self.g.const(dq.inputs[0]) is not None:
            return f"input '{value}' is a dequantized constant"
        if self.dtype(dq.inputs[0]) != U8:
            return f"input '{value}' is dequantized from {self._dtype_text(dq.inputs[0])} codes, not uint8"
        return dq, p

    def operand(self, value: str) -> tuple[Lazy, str, Lazy, QParams] | str:
        """An activation or a dequantized 8-bit constant, as uint8 (codes, scale, zero point, grid)."""
        got = self.activation(value)
        if not isinstance(got, str):
            dq, p = got
            return dq.inputs[0], dq.inputs[1], dq.inputs[2], p
        dq = self.producer(value, DQ)
        codes = self.g.const(dq.inputs[0]) if dq is not None else None
        if codes is None or codes.dtype not in (np.uint8, np.int8):
            return got
        p = params(self.g, dq)
        if not p.per_tensor:
            return f"constant input '{value}' is quantized per axis"
        if codes.dtype == np.uint8:
            return dq.inputs[0], dq.inputs[1], dq.inputs[2], p
        u8 = (codes.astype(np.int16) + 128).astype(np.uint8)
        zp = np.asarray(p.z() + 128, np.uint8)
        return (f"{dq.inputs[0]}_u8", u8), dq.inputs[1], (f"{dq.inputs[2]}_u8", zp), QParams(p.scale, zp, None)

    def weight(self, value: str) -> tuple[Node, QParams] | str:
        """``value`` = DequantizeLinear(constant 8-bit codes)."""
        dq = self.producer(value, DQ)
        codes = self.g.const(dq.inputs[0]) if dq is not None else None
        if dq is None:
            return f"weight '{value}' is not quantized"
        if codes is None:
            return f"weight '{value}' is not a constant"
        if codes.dtype not in (np.int8, np.uint8):
            return f"weight '{value}' has {codes.dtype} codes"
        return dq, params(self.g, dq)

    def _dtype_text(self, name: str) -> str:
        d = self.dtype(name)
        return dtype_name(d) if d else "unknown"

    # -- the quantized output of an op --
    def quantized_output(self, value: str, acts: tuple[str, ...] = ()) -> tuple[Node | None, Node, QParams] | str:
        """``value`` -> [one activation of ``acts``] -> QuantizeLinear(uint8, per tensor), nothing else reading."""
        if value in self.g.outputs:
            return f"its output '{value}' is a graph output"
        uses = self.uses(value)
        act = None
        if len(uses) == 1 and uses[0].op_type in acts and uses[0].inputs[0] == value:
            act = uses[0]
            if act.op_type == "Clip" and not _const_bounds(self.g, act):
                return f"its {act.op_type} has bounds computed at run time"
            value = act.outputs[0]
            if value in self.g.outputs:
                return f"its output '{value}' is a graph output"
            uses = self.uses(value)
        qs = [u for u in uses if u.op_type == Q]
        if not qs:
            readers = ", ".join(node_label(u.name, u.op_type) for u in uses[:2])
            return f"its output is not quantized (read in float by {readers})" if uses else "its output is unused"
        if len(uses) != 1:
            if len(qs) == len(uses):
                return "its output is quantized on several grids"
            float_readers = [u for u in uses if u.op_type != Q]
            return f"its output is also read in float by {node_label(float_readers[0].name, float_readers[0].op_type)}"
        q = qs[0]
        p = params(self.g, q)
        if not p.per_tensor or p.dtype != U8:
            return "its output is quantized per axis or not to uint8"
        return act, q, p


def _const_bounds(graph: Graph, clip: Node) -> bool:
    return all(graph.const(i) is not None and graph.const(i).size == 1 for i in clip.inputs[1:] if i)


def _clip_params(graph: Graph, clip: Node) -> list[float]:
    fmax = float(np.finfo(np.float32).max)
    out = []
    for k, default in ((1, -fmax), (2, fmax)):
        name = clip.inputs[k] if len(clip.inputs) > k else ""
        out.append(float(graph.const(name).reshape(-1)[0]) if name else default)
    return out


# ---- graph edits ---------------------------------------------------------------------------------
def _new_value(g: Graph, base: str, dtype: int, like: str | None) -> str:
    name = g.fresh_name(base)
    shape = g.values[like].shape if like is not None and like in g.values else None
    g.values[name] = Value(name, dtype, None if shape is None else list(shape))
    return name


def _replace(g: Graph, at: Node, new: list[Node], remove: list[Node]) -> None:
    """Put ``new`` where ``at`` is (a position after all their inputs, before all readers), drop ``remove``.

    A new node may take the name of a removed one (a QLinearConv keeps its Conv's name); others get a suffix.
    """
    idx = next(i for i, n in enumerate(g.nodes) if n is at)
    g.nodes[idx:idx] = new
    g.remove_nodes(remove)
    _unique_names(g, new)


def _unique_names(g: Graph, new: list[Node]) -> None:
    ids = {id(n) for n in new}
    taken = {n.name for n in g.nodes if id(n) not in ids} | set(g.values)
    for n in new:
        base, k = n.name, 1
        while n.name in taken:
            n.name, k = f"{base}_{k}", k + 1
        taken.add(n.name)


def _drop_dead_dequantizers(g: Graph) -> None:
    while True:
        used = {i for n in g.nodes for i in n.inputs if i} | set(g.outputs)
        dead = [n for n in g.nodes if n.op_type in (DQ, "QLinearLookup") and n.outputs[0] not in used]
        if not dead:
            return
        g.remove_nodes(dead)


def _mat(g: Graph, x: Lazy) -> str:
    return x if isinstance(x, str) else g.add_const(x[0], x[1])


def _node(g: Graph, op: str, name: str, inputs: list[str], outputs: list[str], attrs: dict | None = None) -> Node:
    return Node(op, name, inputs, outputs, dict(attrs or {}))


# ---- layout ops: sinking DequantizeLinear, hoisting QuantizeLinear ----------------------------------
def _layout_reason(g: Graph, node: Node) -> str | None:
    if node.domain not in ("", "ai.onnx"):
        return f"op {node.op_type} of domain {node.domain}"
    if node.op_type == "MaxPool" and len([o for o in node.outputs if o]) != 1:
        return "a MaxPool with an Indices output"
    if node.op_type == "Resize" and node.attr("mode", "nearest") != "nearest":
        return f"Resize in mode '{node.attr('mode')}' (only nearest commutes with quantization)"
    if node.op_type == "Pad":
        if node.attr("mode", "constant") != "constant":
            return f"Pad in mode '{node.attr('mode')}' (the engine pads uint8 in constant mode)"
        if len(node.inputs) > 2 and node.inputs[2] and g.const(node.inputs[2]) is None:
            return "a Pad value computed at run time"
    return None


def _pad_code(g: Graph, node: Node, p: QParams, code_dtype: int, exact: bool) -> np.ndarray | None:
    """The code that pads like the float value does; None when (``exact``) none dequantizes to it exactly."""
    value = g.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    c = np.float32(0) if value is None else np.float32(value.reshape(-1)[0])
    q = QParams(p.scale, p.zero_point.astype(np.uint8 if code_dtype == U8 else np.int8), None)
    code = quantize(np.asarray(c, np.float32), q)
    if exact and dequantize(code, q) != c:
        return None
    return code


def _match_sink(ctx: _Ctx, dq: Node, layout: Node) -> Match:
    g = ctx.g
    why = _layout_reason(g, layout)
    if why:
        return why
    p = params(g, dq)
    x = dq.outputs[0]
    code_dtype = ctx.dtype(dq.inputs[0])
    if code_dtype not in (U8, I8):
        return f"{DQ} of {ctx._dtype_text(dq.inputs[0])} codes"
    if layout.op_type == "Concat":
        dqs = [ctx.producer(i, DQ) for i in layout.inputs]
        if any(d is None for d in dqs):
            return "not every Concat input is quantized"
        grids = [params(g, d) for d in dqs]
        if not all(q.per_tensor and q.same(p) for q in grids) or any(ctx.dtype(d.inputs[0]) != code_dtype
                                                                     for d in dqs):
            return "Q/DQ parameters differ across the Concat inputs"
        sources = [d.inputs[0] for d in dqs]
    else:
        if layout.inputs[0] != x or x in layout.inputs[1:]:
            return "its quantized input is not its data input"
        if not p.per_tensor and layout.op_type != "Transpose":
            return f"a per-axis quantized input of {layout.op_type}"
        sources = [dq.inputs[0]]
    pad = None
    if layout.op_type == "Pad":
        pad = _pad_code(g, layout, p, code_dtype, exact=True)
        if pad is None:
            return "a Pad value that no code dequantizes to exactly"
    axis = p.axis
    if axis is not None:  # Transpose: the quantized axis moves with the data
        perm = layout.attr("perm") or list(range(ctx.rank(x) or 0))[::-1]
        axis = list(perm).index(axis)

    def apply() -> str:
        layout.inputs = sources + layout.inputs[len(sources):] if layout.op_type != "Concat" else sources
        if pad is not None:
            pad_name = g.add_const(f"{layout.name}_pad_code", pad)
            layout.inputs = (layout.inputs + ["", ""])[:2] + [pad_name]
        new = []
        for k, out in enumerate(layout.outputs):
            if not out:
                continue
            codes = _new_value(g, f"{out}_q", code_dtype, out)
            layout.outputs[k] = codes
            new.append(_node(g, DQ, f"{layout.name}_dq{k or ''}", [codes, dq.inputs[1], dq.inputs[2]], [out],
                             {} if axis is None else {"axis": axis}))
        idx = next(i for i, n in enumerate(g.nodes) if n is layout)
        g.nodes[idx + 1:idx + 1] = new
        _unique_names(g, new)
        return f"{layout.op_type} on uint8"

    return apply


def _match_hoist(ctx: _Ctx, q: Node) -> Match | None:
    g = ctx.g
    layout = ctx.producers.get(q.inputs[0])
    if layout is None or layout.op_type not in LAYOUT_OPS or layout.op_type == "Split":
        return None
    if _layout_reason(g, layout) or not ctx.private(q.inputs[0]):
        return None
    p = params(g, q)
    if not p.per_tensor and layout.op_type != "Transpose":
        return None
    data = layout.inputs if layout.op_type == "Concat" else layout.inputs[:1]
    if any(not d or g.const(d) is not None or not ctx.private(d) or ctx.dtype(d) != TensorProto.FLOAT for d in data):
        return None
    if len(set(data)) != len(data):
        return None
    axis = p.axis
    if axis is not None:
        perm = layout.attr("perm") or list(range(ctx.rank(q.inputs[0]) or 0))[::-1]
        axis = int(perm[axis])
    pad = _pad_code(g, layout, p, U8, exact=False) if layout.op_type == "Pad" else None

    def apply() -> str:
        new = []
        for k, d in enumerate(data):
            codes = _new_value(g, f"{d}_q", U8, d)
            new.append(_node(g, Q, f"{q.name}_{k}" if len(data) > 1 else q.name, [d, q.inputs[1], q.inputs[2]],
                             [codes], {} if axis is None else {"axis": axis}))
            layout.inputs[k] = codes
        if pad is not None:
            layout.inputs = (layout.inputs + ["", ""])[:2] + [g.add_const(f"{layout.name}_pad_code", pad)]
        old = layout.outputs[0]
        layout.outputs[0] = q.outputs[0]
        del g.values[old]
        _replace(g, layout, new, [q])
        return f"{layout.op_type} on uint8"

    return apply


def _match_dq_q(ctx: _Ctx, dq: Node, q: Node) -> Match:
    g = ctx.g
    pin, pout = params(g, dq), params(g, q)
    src = dq.inputs[0]
    if pin.same(pout):
        def cancel() -> str:
            if g.bypass(q.outputs[0], src):
                g.remove_nodes([q])
                return "cancelled DequantizeLinear->QuantizeLinear"
            return ""

        return cancel
    if not (pin.per_tensor and pout.per_tensor) or ctx.dtype(src) != U8 or pout.dtype != U8:
        return "Q/DQ parameters differ (per axis or not uint8)"
    if g.const(src) is not None:
        return "a requantized constant"
    table = requantize_table(pin, pout)

    def requantize() -> str:
        lookup = _node(g, "QLinearLookup", q.name, [src, g.add_const(f"{q.name}_table", table)], [q.outputs[0]])
        _replace(g, q, [lookup], [q])
        return "requantized with QLinearLookup"

    return requantize


# ---- integer ops ---------------------------------------------------------------------------------
def _bias_codes(ctx: _Ctx, name: str, grid: np.ndarray, owner: Node) -> np.ndarray | str:
    """int32 bias codes on ``grid`` (float32, one per output channel) from DQ(int32) or a float constant."""
    n = grid.size
    dq = ctx.producer(name, DQ)
    if dq is not None and ctx.g.const(dq.inputs[0]) is not None and ctx.dtype(dq.inputs[0]) == I32:
        codes = ctx.g.const(dq.inputs[0]).reshape(-1)
        if codes.size not in (1, n):
            return f"bias '{name}' has {codes.size} values for {n} output channels"
        p = params(ctx.g, dq)
        scale = np.broadcast_to(p.scale.reshape(-1), (n,))
        if not np.allclose(scale, grid, rtol=1e-6, atol=0):
            k = int(np.argmax(~np.isclose(scale, grid, rtol=1e-6, atol=0)))
            return (f"bias scale of '{name}' ({float(scale[k]):.9g}) differs from x_scale * w_scale "
                    f"({float(grid[k]):.9g}) at channel {k}")
        return np.broadcast_to(codes, (n,)).astype(np.int32)
    value = ctx.g.const(name)
    if value is None or value.dtype != np.float32:
        return f"bias '{name}' is neither a float constant nor a dequantized int32 constant"
    if value.size not in (1, n):
        return f"bias '{name}' has {value.size} values for {n} output channels"
    with np.errstate(all="ignore"):
        codes = np.rint(np.broadcast_to(value.reshape(-1), (n,)) / grid).astype(np.float64)  # as ONNX Runtime does
    # an exporter that saturated the codes at the int32 limits (ours does) stores values that round back to
    # +-2^31 in float32 (its spacing there is 256): those are the limits; anything beyond does not fit
    if not np.isfinite(codes).all() or np.abs(codes).max(initial=0) > 2**31 + 256:
        raise fail(owner, f"bias '{name}'", "does not fit int32 on the grid x_scale * w_scale (a bias of up to "
                   f"{float(np.abs(value).max()):.6g} on a grid down to {float(grid.min()):.3g})")
    return np.clip(codes, -(2**31), 2**31 - 1).astype(np.int32)


def _check_accumulator(owner: Node, k: int, bias: np.ndarray | None, grid: np.ndarray) -> None:
    """QUANTIZED.md: the worst case ``K * 255 * 128 + |bias|`` must stay below 2^31."""
    top = int(np.abs(bias.astype(np.int64)).max(initial=0)) if bias is not None else 0
    worst = k * 255 * 128 + top
    if worst >= ACC_LIMIT:
        hint = (f" (the bias grid x_scale * w_scale goes down to {float(grid.min()):.3g}: a tiny input scale, "
                "e.g. from calibration on inputs that barely reach this layer)" if top > ACC_LIMIT // 2 else "")
        raise fail(owner, "accumulator", f"may overflow int32: K = {k} products of up to 255 * 128 plus a bias of up "
                   f"to {top} codes reach {worst} >= 2^31{hint}")


def _trim(inputs: list[str]) -> list[str]:
    while inputs and not inputs[-1]:
        inputs = inputs[:-1]
    return inputs


def _out_params(q: Node) -> list[str]:
    return [q.inputs[1], q.inputs[2]]


def _activation_attrs(g: Graph, act: Node | None, attr: str | None, params_: list[float] | None,
                      py: QParams) -> dict:
    """``activation`` / ``activation_params`` of an integer op's clamp (QUANTIZED.md "Requantization").

    Clip bounds beyond the output grid change nothing; they are brought to just outside it, so that the
    engine's ``nearbyint(bound / y_scale)`` stays finite (a missing bound would be FLT_MAX).
    """
    if act is not None:
        attr, params_ = act.op_type, _clip_params(g, act) if act.op_type == "Clip" else []
    if attr is None:
        return {}
    params_ = [float(v) for v in params_ or []]
    if attr == "Clip" and len(params_) == 2:
        s, z = float(py.s()), py.z()
        params_ = [max(params_[0], -(z + 1) * s), min(params_[1], (256 - z) * s)]
    return {"activation": attr, "activation_params": params_}


def _weight_inputs(ctx: _Ctx, dqw: Node, pw: QParams, role: str) -> tuple[Lazy, str, Lazy]:
    """Weight codes (int8, zero point 0: refused here when impossible), scale and zero point inputs."""
    g = ctx.g
    codes = weight_codes(g, dqw, pw, role)
    w: Lazy = dqw.inputs[0] if codes is g.const(dqw.inputs[0]) else (f"{dqw.inputs[0]}_s8", codes)
    zp = np.zeros(pw.scale.shape, np.int8)
    old = g.const(dqw.inputs[2])
    z: Lazy = dqw.inputs[2] if old.dtype == np.int8 and np.array_equal(old, zp) else (f"{dqw.inputs[0]}_zp", zp)
    return w, dqw.inputs[1], z


def _fold_conv(ctx: _Ctx, conv: Node) -> Match:
    g = ctx.g
    x = ctx.activation(conv.inputs[0])
    if isinstance(x, str):
        return x
    w = ctx.weight(conv.inputs[1])
    if isinstance(w, str):
        return w
    (dqx, px), (dqw, pw) = x, w
    wshape = g.const(dqw.inputs[0]).shape
    if len(wshape) != 4:
        return f"a {len(wshape) - 2}-D convolution (the integer kernels are 2-D)"
    if pw.axis not in (None, 0):
        return f"weight quantized along axis {pw.axis}, not the output channels"
    attr_act = conv.attr("activation")
    if attr_act not in (None, "Relu", "Clip"):
        return f"its {attr_act} comes before the QuantizeLinear; the integer epilogue clamps (Relu/Clip) only"
    out = ctx.quantized_output(conv.outputs[0], () if attr_act else ("Relu", "Clip"))
    if isinstance(out, str):
        return out
    act, q, py = out
    m = wshape[0]
    grid = (px.s() * np.broadcast_to(pw.scale.reshape(-1), (m,))).astype(np.float32)
    bias = None
    if len(conv.inputs) > 2 and conv.inputs[2]:
        bias = _bias_codes(ctx, conv.inputs[2], grid, conv)
        if isinstance(bias, str):
            return bias
    _check_accumulator(conv, int(np.prod(wshape[1:])), bias, grid)
    w_in, ws_name, wz_in = _weight_inputs(ctx, dqw, pw, "weight")

    def apply() -> str:
        inputs = [dqx.inputs[0], dqx.inputs[1], dqx.inputs[2], _mat(g, w_in), ws_name, _mat(g, wz_in), *_out_params(q)]
        if bias is not None:
            inputs.append(g.add_const(f"{conv.name}_bias_i32", bias))
        attrs = {k: v for k, v in conv.attrs.items() if k not in ("activation", "activation_params")}
        attrs.update(_activation_attrs(g, act, attr_act, conv.attr("activation_params"), py))
        node = _node(g, "QLinearConv", conv.name, inputs, [q.outputs[0]], attrs)
        _replace(g, q, [node], [conv, q] + ([act] if act else []))
        return "Conv -> QLinearConv"

    return apply


def _gemm_bias(ctx: _Ctx, node: Node, name: str, grid: np.ndarray) -> np.ndarray | str:
    v = ctx.g.values.get(name)
    if v is not None and v.shape is not None and len(v.shape) == 2 and v.shape[0] != 1:
        return f"bias '{name}' is a matrix, not one value per output column"
    return _bias_codes(ctx, name, grid, node)


def _fold_gemm(ctx: _Ctx, gemm: Node) -> Match:
    g = ctx.g
    if gemm.attr("transA", 0) or float(gemm.attr("alpha", 1.0)) != 1.0:
        return "Gemm with transA or alpha != 1"
    x = ctx.activation(gemm.inputs[0])
    if isinstance(x, str):
        return x
    w = ctx.weight(gemm.inputs[1])
    if isinstance(w, str):
        return w
    (dqx, px), (dqw, pw) = x, w
    wshape = g.const(dqw.inputs[0]).shape
    trans_b = int(gemm.attr("transB", 0))
    if len(wshape) != 2:
        return "a Gemm weight that is not a matrix"
    n_axis = 0 if trans_b else 1
    if pw.axis not in (None, n_axis):
        return f"weight quantized along axis {pw.axis}, not the output columns"
    has_bias = len(gemm.inputs) > 2 and bool(gemm.inputs[2])
    if has_bias and float(gemm.attr("beta", 1.0)) != 1.0:
        return "Gemm with beta != 1"
    attr_act = gemm.attr("activation")
    out = ctx.quantized_output(gemm.outputs[0], () if attr_act else ("Relu",))
    if isinstance(out, str):
        if attr_act is not None:
            return out
        act, q, py = None, None, None  # a float output: QGemm without y_scale
    else:
        act, q, py = out
    if attr_act not in (None, "Relu"):
        return f"its {attr_act} comes before the QuantizeLinear; the integer epilogue clamps (Relu) only"
    n = wshape[n_axis]
    grid = (px.s() * np.broadcast_to(pw.scale.reshape(-1), (n,))).astype(np.float32)
    bias = None
    if has_bias:
        bias = _gemm_bias(ctx, gemm, gemm.inputs[2], grid)
        if isinstance(bias, str):
            return bias
    _check_accumulator(gemm, wshape[1 - n_axis], bias, grid)
    w_in, ws_name, wz_in = _weight_inputs(ctx, dqw, pw, "weight")

    def apply() -> str:
        inputs = [dqx.inputs[0], dqx.inputs[1], dqx.inputs[2], _mat(g, w_in), ws_name, _mat(g, wz_in),
                  g.add_const(f"{gemm.name}_bias_i32", bias) if bias is not None else ""]
        attrs = {"transA": 0, "transB": trans_b, "alpha": 1.0}
        if py is not None:
            attrs.update(_activation_attrs(g, act, attr_act, gemm.attr("activation_params"), py))
        if q is None:
            node = _node(g, "QGemm", gemm.name, _trim(inputs), [gemm.outputs[0]], attrs)
            _replace(g, gemm, [node], [gemm])
            return "Gemm -> QGemm (float output)"
        node = _node(g, "QGemm", gemm.name, inputs + _out_params(q), [q.outputs[0]], attrs)
        _replace(g, q, [node], [gemm, q] + ([act] if act else []))
        return "Gemm -> QGemm"

    return apply


def _fold_matmul(ctx: _Ctx, mm: Node) -> Match:
    g = ctx.g
    if mm.attr("activation"):
        return f"fused activation {mm.attr('activation')}"
    x = ctx.activation(mm.inputs[0])
    if isinstance(x, str):
        return x
    w = ctx.weight(mm.inputs[1])
    if isinstance(w, str):
        return w
    (dqx, _), (dqw, pw) = x, w
    wshape = g.const(dqw.inputs[0]).shape
    rank = ctx.rank(mm.inputs[0])
    if len(wshape) != 2 or rank is None or rank < 2:
        return "a MatMul that is not (batched) matrix x constant matrix"
    if pw.axis not in (None, 1):
        return f"weight quantized along axis {pw.axis}, not the output columns"
    _check_accumulator(mm, wshape[0], None, np.ones(1, np.float32))
    out = ctx.quantized_output(mm.outputs[0])
    if isinstance(out, str) and rank != 2:
        return out
    w_in, ws_name, wz_in = _weight_inputs(ctx, dqw, pw, "weight")

    def xin() -> list[str]:
        return [dqx.inputs[0], dqx.inputs[1], dqx.inputs[2], _mat(g, w_in), ws_name, _mat(g, wz_in)]

    if isinstance(out, str):
        def to_qgemm() -> str:
            node = _node(g, "QGemm", mm.name, xin(), [mm.outputs[0]], {"transA": 0, "transB": 0, "alpha": 1.0})
            _replace(g, mm, [node], [mm])
            return "MatMul -> QGemm (float output)"

        return to_qgemm
    _, q, _ = out

    def apply() -> str:
        node = _node(g, "QLinearMatMul", mm.name, [*xin(), *_out_params(q)], [q.outputs[0]])
        _replace(g, q, [node], [mm, q])
        return "MatMul -> QLinearMatMul"

    return apply


def _fold_binary(ctx: _Ctx, node: Node) -> Match:
    if len(node.inputs) != 2:
        return f"{node.op_type} with {len(node.inputs)} inputs"
    a, b = ctx.operand(node.inputs[0]), ctx.operand(node.inputs[1])
    if isinstance(a, str) or isinstance(b, str):
        return a if isinstance(a, str) else b  # type: ignore[return-value]
    if ctx.g.const(a[0]) is not None and ctx.g.const(b[0]) is not None:
        return "both inputs are constants"
    out = ctx.quantized_output(node.outputs[0], ("Relu",) if node.op_type == "Add" else ())
    if isinstance(out, str):
        return out
    act, q, _ = out
    op = "QLinearAdd" if node.op_type == "Add" else "QLinearMul"

    def apply() -> str:
        attrs = {"activation": "Relu"} if act is not None else {}
        ins = [_mat(ctx.g, a[0]), a[1], _mat(ctx.g, a[2]), _mat(ctx.g, b[0]), b[1], _mat(ctx.g, b[2])]
        new = _node(ctx.g, op, node.name, [*ins, *_out_params(q)], [q.outputs[0]], attrs)
        _replace(ctx.g, q, [new], [node, q] + ([act] if act else []))
        return f"{node.op_type} -> {op}"

    return apply


def _pool_input(ctx: _Ctx, node: Node) -> tuple[Node, Node] | str:
    x = ctx.activation(node.inputs[0])
    if isinstance(x, str):
        return x
    if ctx.rank(node.inputs[0]) != 4:
        return f"a {node.op_type} over a tensor of rank {ctx.rank(node.inputs[0])} (the integer kernels are 2-D)"
    out = ctx.quantized_output(node.outputs[0])
    if isinstance(out, str):
        return out
    return x[0], out[1]


def _fold_pool(ctx: _Ctx, node: Node) -> Match:
    if node.op_type == "AveragePool":
        # the engine has no windowed int8 average pool yet: the pool runs in float between its Q/DQ
        return "no integer kernel for AveragePool"
    got = _pool_input(ctx, node)
    if isinstance(got, str):
        return got
    dqx, q = got
    g = ctx.g
    op, attrs = "QLinearGlobalAveragePool", {}
    squeeze = False
    if node.op_type == "ReduceMean":
        axes = node.attr("axes")
        if axes is None or len(node.inputs) > 1 or sorted(int(a) % 4 for a in axes) != [2, 3]:
            return "a ReduceMean over other axes than H, W"
        squeeze = not node.attr("keepdims", 1)

    def apply() -> str:
        inputs = [dqx.inputs[0], dqx.inputs[1], dqx.inputs[2], *_out_params(q)]
        if not squeeze:
            _replace(g, q, [_node(g, op, node.name, inputs, [q.outputs[0]], attrs)], [node, q])
        else:
            pooled = _new_value(g, f"{q.outputs[0]}_pooled", U8, None)
            v = g.values[q.outputs[0]]
            g.values[pooled].shape = None if v.shape is None else [*v.shape, 1, 1]
            axes = g.add_const(f"{node.name}_axes", np.asarray([2, 3], np.int64))
            _replace(g, q, [_node(g, op, node.name, inputs, [pooled], attrs),
                            _node(g, "Squeeze", f"{node.name}_squeeze", [pooled, axes], [q.outputs[0]])], [node, q])
        return f"{node.op_type} -> {op}"

    return apply


def _fold_concat(ctx: _Ctx, node: Node) -> Match:
    ops = [ctx.operand(i) for i in node.inputs]
    bad = next((o for o in ops if isinstance(o, str)), None)
    if bad is not None:
        return bad  # type: ignore[return-value]
    out = ctx.quantized_output(node.outputs[0])
    if isinstance(out, str):
        return out
    _, q, _ = out

    def apply() -> str:
        inputs = [*_out_params(q)]
        for codes, scale, zp, _ in ops:  # type: ignore[misc]
            inputs += [_mat(ctx.g, codes), scale, _mat(ctx.g, zp)]
        new = _node(ctx.g, "QLinearConcat", node.name, inputs, [q.outputs[0]], {"axis": node.attr("axis")})
        _replace(ctx.g, q, [new], [node, q])
        return "Concat -> QLinearConcat"

    return apply


def _fold_table(ctx: _Ctx, node: Node) -> Match:
    """``node`` is part of an elementwise region between one DequantizeLinear and one QuantizeLinear."""
    value = node.outputs[0]
    seen = {id(node)}
    while True:  # forward, through the region's elementwise ops, to its QuantizeLinear
        uses = ctx.uses(value)
        if value not in ctx.g.outputs and len(uses) == 1 and uses[0].op_type in TABLE_OPS and id(uses[0]) not in seen:
            seen.add(id(uses[0]))
            value = uses[0].outputs[0]
            continue
        out = ctx.quantized_output(value)
        if isinstance(out, str):
            return out
        return _fold_region(ctx, out[1])


def _fold_region(ctx: _Ctx, q: Node) -> Match:
    """The elementwise ops between one uint8 activation's DequantizeLinear and ``q``, as one 256-entry table
    (e.g. x * sigmoid(x), x * clip(x + 3, 0, 6) / 6, a Gelu, x / 6 + 0.5)."""
    g = ctx.g
    root = q.inputs[0]
    region: list[Node] = []
    source: Node | None = None
    stack, seen = [root], set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        dq = ctx.producer(v, DQ)
        if dq is not None:
            if source is not None and source is not dq:
                return "not a function of one quantized input"
            source = dq
            continue
        if g.const(v) is not None:
            continue
        n = ctx.producers.get(v)
        if n is None or n.op_type not in TABLE_OPS or n.domain not in ("", "ai.onnx"):
            what = "a graph input" if n is None else f"{n.op_type} '{n.name}'"
            return f"not a function of one quantized input (it also reads {what})"
        region.append(n)
        stack.extend(i for i in n.inputs if i)
    if source is None or not region:
        return "not a function of one quantized input"
    inside = {id(n) for n in region}
    for n in region:
        for o in n.outputs:
            if o in g.outputs or any(id(u) not in inside and u is not q for u in ctx.uses(o)):
                return f"'{o}' is also read outside the quantized region"
    x = ctx.activation(source.outputs[0])
    if isinstance(x, str):
        return x
    px, py = x[1], params(g, q)
    if not py.per_tensor or py.dtype != U8:
        return "its output is quantized per axis"
    arrays = {source.outputs[0]: dequantize(CODES, px)}
    for n in sorted(region, key=lambda n: next(i for i, m in enumerate(g.nodes) if m is n)):
        with np.errstate(all="ignore"):
            y = evaluate(g, n, arrays)
        if isinstance(y, str):
            return y
        if y.shape != (256,):
            return "not elementwise (its result does not keep the input's shape)"
        arrays[n.outputs[0]] = y
    y = arrays[root]
    if np.isnan(y).any():
        return "not defined (NaN) for some input codes"
    table = quantize(y, py)
    last = ctx.producers[root]

    def apply() -> str:
        new = _node(g, "QLinearLookup", last.name, [source.inputs[0], g.add_const(f"{last.name}_table", table)],
                    [q.outputs[0]])
        _replace(g, q, [new], [*region, q])
        return f"{'+'.join(sorted({n.op_type for n in region}))} -> QLinearLookup"

    return apply


def _qparams_at(g: Graph, node: Node, scale: int) -> QParams:
    return QParams(g.const(node.inputs[scale]), g.const(node.inputs[scale + 1]), None)


def _compose(ctx: _Ctx, node: Node) -> Match | None:
    g = ctx.g
    if node.op_type == "QLinearLookup":
        first = ctx.producer(node.inputs[0], "QLinearLookup")
        if first is None or not ctx.private(first.outputs[0]):
            return None
        table = g.const(node.inputs[1])[g.const(first.inputs[1])]

        def compose() -> str:
            node.inputs = [first.inputs[0], g.add_const(f"{node.name}_table", table)]
            g.remove_nodes([first])
            return "composed lookups"

        return compose
    if node.op_type not in ("QLinearMul", "QLinearAdd") or node.attr("activation") not in (None, "Relu"):
        return None
    for a_pos, b_pos in ((0, 3), (3, 0)):
        lookup = ctx.producer(node.inputs[b_pos], "QLinearLookup")
        if lookup is None or lookup.inputs[0] != node.inputs[a_pos]:
            continue
        if any(g.const(node.inputs[k]) is None for k in (1, 2, 4, 5, 6, 7)):
            return None
        pa, pb, py = _qparams_at(g, node, a_pos + 1), _qparams_at(g, node, b_pos + 1), _qparams_at(g, node, 6)
        b = g.const(lookup.inputs[1])
        if node.op_type == "QLinearMul":
            table = mul_table(b, pa, pb, py)
        else:
            table = add_table(b, pa, pb, py, node.attr("activation") == "Relu")
        x = node.inputs[a_pos]

        def fuse(table: np.ndarray = table, x: str = x) -> str:
            new = _node(g, "QLinearLookup", node.name, [x, g.add_const(f"{node.name}_table", table)],
                        [node.outputs[0]])
            _replace(g, node, [new], [node])
            return f"{node.op_type} of x and table[x] -> QLinearLookup"

        return fuse
    return None


FOLDS: dict[str, Callable[[_Ctx, Node], Match]] = {
    "Conv": _fold_conv,
    "Gemm": _fold_gemm,
    "MatMul": _fold_matmul,
    "Add": _fold_binary,
    "Mul": _fold_binary,
    "GlobalAveragePool": _fold_pool,
    "ReduceMean": _fold_pool,
    "AveragePool": _fold_pool,
    "Concat": _fold_concat,
}


def _match_compute(ctx: _Ctx, node: Node) -> Match:
    if node.domain not in ("", "ai.onnx"):
        return f"op {node.op_type} of domain {node.domain}"
    fold = FOLDS.get(node.op_type)
    first = fold(ctx, node) if fold is not None else None
    if first is not None and not isinstance(first, str):
        return first
    if node.op_type in TABLE_OPS:
        table = _fold_table(ctx, node)
        if not isinstance(table, str) or first is None:
            return table
    return first if first is not None else f"no integer kernel for {node.op_type}"


def _rewrites(ctx: _Ctx, node: Node) -> list[Match]:
    """Every rewrite that applies at ``node`` (the first one is taken)."""
    if node.op_type == DQ:
        found: list[Match] = []
        for user in list(ctx.uses(node.outputs[0])):
            if user.op_type == Q and user.inputs[0] == node.outputs[0]:
                found.append(_match_dq_q(ctx, node, user))
            elif user.op_type in LAYOUT_OPS:
                found.append(_match_sink(ctx, node, user))
        return found
    if node.op_type == Q:
        hoist = _match_hoist(ctx, node)
        return [hoist] if hoist is not None else []
    if node.op_type in INT8_OPS:
        composed = _compose(ctx, node)
        return [composed] if composed is not None else []
    return [_match_compute(ctx, node)]


@register_pass("qdq_folding")
def run(graph: Graph) -> PassResult:
    result = PassResult("qdq_folding")
    if not any(n.op_type in (Q, DQ) or n.op_type in INT8_OPS for n in graph.nodes):
        return result
    ctx = _Ctx(graph)
    changed = True
    while changed:
        changed = False
        alive = {id(n) for n in graph.nodes}
        for node in list(graph.nodes):
            if id(node) not in alive:
                continue
            for match in _rewrites(ctx, node):
                if isinstance(match, str):
                    continue
                did = match()
                if did:
                    result.changes[did] += 1
                    changed = True
                    ctx.refresh()
                    alive = {id(n) for n in graph.nodes}
                    break
    _drop_dead_dequantizers(graph)
    return result


def explainer(graph: Graph) -> Callable[[Node], str]:
    """``explain(node)``: why a float op left by the pass does not run in int8 (one context for a whole graph)."""
    ctx = _Ctx(graph)

    def explain(node: Node) -> str:
        try:
            return _explain(ctx, node)
        except ModelFormatError as exc:  # what the pass refuses (it did not run: --no-optimize)
            return exc.problem

    return explain


def _explain(ctx: _Ctx, node: Node) -> str:
    if node.op_type in LAYOUT_OPS:
        dq = next((d for i in node.inputs if (d := ctx.producer(i, DQ)) is not None), None)
        if dq is None:
            return "its input is not quantized"
        match = _match_sink(ctx, dq, node)
        return match if isinstance(match, str) else "foldable (the qdq_folding pass did not run)"
    if node.op_type in (Q, DQ) or node.op_type in INT8_OPS:
        return ""
    if not any(ctx.producer(i, DQ) is not None for i in node.inputs if i) and not any(
            u.op_type == Q for o in node.outputs for u in ctx.uses(o)):
        return "not in a quantized region (neither its inputs nor its output are quantized)"
    match = _match_compute(ctx, node)
    return match if isinstance(match, str) else "foldable (the qdq_folding pass did not run)"
