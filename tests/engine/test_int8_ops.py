"""The int8 ops of engine/QUANTIZED.md on tiny hand-built models, at every ISA and at 1 and 2 threads.

Each op is checked twice: bit-exact against a NumPy model of the engine's scheme (int32 accumulation, fp32
multiplier, round half to even), and within 1 LSB against ONNX Runtime running the standard ONNX or
``com.microsoft`` op (the LSB statistics are printed at the end of the module with ``-s``). Graph inputs are
NCHW; ops after a QLinearConv see NHWC tensors inside the engine. Bad models must fail with an EngineError
naming the node and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import engine
from tests.engine.slm_builder import SlmBuilder

ISAS = engine.available_isas()
THREADS = (1, 2)
U8, I8, I32, F32, I64 = np.uint8, np.int8, np.int32, np.float32, np.int64
ONNX_TYPE = {np.dtype(U8): TensorProto.UINT8, np.dtype(I8): TensorProto.INT8, np.dtype(I32): TensorProto.INT32,
             np.dtype(F32): TensorProto.FLOAT, np.dtype(I64): TensorProto.INT64}

# op -> [worst |engine - ORT| in LSB (f32 outputs: relative), equal elements, elements]
STATS: dict[str, list[float]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_stats():
    yield
    lines = [f"{op:28s} max |engine - ORT| = {s[0]:g}  equal {100.0 * s[1] / max(1, s[2]):.2f}% of {int(s[2])}"
             for op, s in sorted(STATS.items())]
    print("\nint8 ops vs onnxruntime:\n" + "\n".join(lines))
    path = os.environ.get("SLIM_INT8_STATS")
    if path:
        with open(path, "w") as f:
            json.dump(STATS, f, indent=1, sort_keys=True)


# ---- graph building: one description, written as .slm and as ONNX ---------------------------------------------

@dataclass
class Node:
    op: str
    inputs: list[str | None]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    domain: str = ""
    where: str = "both"  # "both", "engine" (the .slm only) or "ort" (the ONNX model only)
    name: str | None = None


@dataclass
class Graph:
    inputs: dict[str, np.ndarray] = field(default_factory=dict)     # name -> example value (dtype, shape)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    dtypes: dict[str, type] = field(default_factory=dict)          # every node output's dtype
    nodes: list[Node] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def input(self, name: str, value: np.ndarray) -> str:
        self.inputs[name] = value
        return name

    def const(self, name: str, value) -> str:
        self.consts[name] = np.asarray(value)
        return name

    def node(self, op: str, inputs: list[str | None], outputs: dict[str, type], domain: str = "",
             where: str = "both", **attrs) -> None:
        self.dtypes.update(outputs)
        self.nodes.append(Node(op, inputs, list(outputs), attrs, domain, where))

    def slm(self) -> bytes:
        b = SlmBuilder()
        for name, v in self.inputs.items():
            b.input(name, list(v.shape), v.dtype.name)
        for name, v in self.consts.items():
            b.constant(name, v)
        for n in self.nodes:
            if n.where == "ort":
                continue
            for o in n.outputs:
                if o not in b._index:
                    b.value(o, None, np.dtype(self.dtypes[o]).name)
            b.node(n.op, n.inputs, n.outputs, name=n.name, **n.attrs)
        for o in self.outputs:
            b.output(o)
        return b.to_bytes()

    def onnx(self) -> onnx.ModelProto:
        nodes = [helper.make_node(n.op, [i or "" for i in n.inputs], n.outputs, domain=n.domain or None, **n.attrs)
                 for n in self.nodes if n.where != "engine"]
        ins = [helper.make_tensor_value_info(k, ONNX_TYPE[v.dtype], list(v.shape)) for k, v in self.inputs.items()]
        outs = [helper.make_tensor_value_info(k, ONNX_TYPE[np.dtype(self.dtypes[k])], None) for k in self.outputs]
        inits = [numpy_helper.from_array(v, k) for k, v in self.consts.items()]
        graph = helper.make_graph(nodes, "g", ins, outs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("com.microsoft", 1)])
        model.ir_version = 8
        return model


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def record(op: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.dtype.kind == "f":
        scale = np.maximum(np.abs(want), 1e-30)
        worst = float(np.max(np.abs(got - want) / scale)) if got.size else 0.0
    else:
        worst = float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64)))) if got.size else 0.0
    s = STATS.setdefault(op, [0.0, 0, 0])
    s[0] = max(s[0], worst)
    s[1] += int(np.sum(got == want))
    s[2] += int(got.size)


def check(op: str, g: Graph, feeds: dict[str, np.ndarray],
          reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None,
          ort_outputs: list[str] | None = None, rtol: float = 1e-6) -> None:
    """Runs `g` in the engine at every ISA and thread count. `reference(engine outputs)` gives the bit-exact
    expected values of some outputs (it may use other engine outputs as its inputs); `ort_outputs` are compared
    with ONNX Runtime running the same graph (<= 1 LSB; f32 outputs to rtol)."""
    data = g.slm()
    expected = dict(zip(g.outputs, ort_run(g.onnx(), feeds))) if ort_outputs else {}
    for isa in ISAS:
        for threads in THREADS:
            got = dict(zip(g.outputs, engine.Session(data, threads=threads, isa=isa).run(None, feeds)))
            where = f"{op} isa={isa} threads={threads}"
            if reference is not None:
                for name, want in reference(got).items():
                    assert got[name].dtype == want.dtype and got[name].shape == want.shape, (where, name)
                    np.testing.assert_array_equal(got[name], want, err_msg=f"{where}: {name} vs NumPy")
            for name in ort_outputs or []:
                e, a = expected[name], got[name]
                assert a.dtype == e.dtype and a.shape == e.shape, (where, name, a.dtype, e.dtype, a.shape, e.shape)
                if a.dtype.kind == "f":
                    np.testing.assert_allclose(a, e, rtol=rtol, atol=0, err_msg=f"{where}: {name} vs ORT")
                else:
                    diff = np.abs(a.astype(np.int64) - e.astype(np.int64))
                    assert diff.max(initial=0) <= 1, f"{where}: {name} differs from ORT by {diff.max()} LSB"
                record(op, a, e)


def engine_error(g: Graph, feeds: dict[str, np.ndarray], pattern: str) -> None:
    with pytest.raises(engine.EngineError, match=pattern):
        engine.Session(g.slm()).run(None, feeds)


# ---- the scheme in NumPy ------------------------------------------------------------------------------------------

def f32(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float32)


def requant(acc: np.ndarray, mult: np.ndarray, zp: int, qmin: int = 0, qmax: int = 255, axis: int = 1) -> np.ndarray:
    """clamp(nearbyint(float32(acc) * multiplier[n]) + zp, qmin, qmax), in fp32 like the kernels."""
    shape = [1] * acc.ndim
    shape[axis] = -1
    v = acc.astype(np.int32).astype(np.float32) * f32(mult).reshape(shape)
    return np.clip(np.rint(v) + np.float32(zp), qmin, qmax).astype(U8)


def quantize(x: np.ndarray, scale, zp) -> np.ndarray:
    """ONNX QuantizeLinear: nearbyint(x / scale) + zp with an fp32 division, saturated; NaN gives zp."""
    q = np.rint(f32(x) / f32(scale)) + f32(zp)
    q = np.where(np.isnan(q), f32(zp) * np.ones_like(q), q)
    return np.clip(q, 0, 255).astype(U8)


def dequantize(x: np.ndarray, scale, zp) -> np.ndarray:
    return (x.astype(np.int32) - np.asarray(zp, np.int32)).astype(np.float32) * f32(scale)


def conv_acc(x: np.ndarray, x_zp: int, w: np.ndarray, bias: np.ndarray | None, strides, pads, dilations,
             group: int) -> np.ndarray:
    """Exact sum_k (x - x_zp) * w + B of a grouped 2-D convolution (NCHW, int64)."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.full((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]), x_zp, np.int64)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    xp -= x_zp
    ho = (xp.shape[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    wo = (xp.shape[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    acc = np.zeros((n, m, ho, wo), np.int64)
    mg = m // group
    for gi in range(group):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        ws = w[gi * mg:(gi + 1) * mg].astype(np.int64)
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilations[0], j * dilations[1]
                rows = slice(r0, r0 + strides[0] * (ho - 1) + 1, strides[0])
                cols = slice(c0, c0 + strides[1] * (wo - 1) + 1, strides[1])
                patch = xs[:, :, rows, cols]
                acc[:, gi * mg:(gi + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, ws[:, :, i, j])
    if bias is not None:
        acc += bias.astype(np.int64)[None, :, None, None]
    return acc


def output_params(real: np.ndarray) -> tuple[np.float32, int]:
    """A y_scale / y_zp that spreads `real` over most of [0, 255] (as calibration would)."""
    lo, hi = min(float(real.min()), 0.0), max(float(real.max()), 0.0)
    scale = np.float32(max(hi - lo, 1e-3) / 230.0)
    return scale, int(np.clip(round(-lo / float(scale)) + 10, 0, 255))


def clamp_bounds(activation: str | None, params: list[float], y_scale, y_zp: int) -> tuple[int, int]:
    def b(v: float) -> int:
        return int(np.clip(y_zp + np.rint(np.float32(v) / np.float32(y_scale)), 0, 255))
    if activation == "Relu":
        return b(0.0), 255
    if activation == "Clip":
        return b(params[0]), b(params[1])
    return 0, 255


rng = np.random.default_rng(20240607)


def u8(*shape: int) -> np.ndarray:
    return rng.integers(0, 256, size=shape, dtype=np.int64).astype(U8)


def i8(*shape: int, lo: int = -127, hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(I8)


# ---- QLinearConv --------------------------------------------------------------------------------------------------

@dataclass
class ConvCase:
    id: str
    x: tuple[int, int, int, int]
    m: int
    k: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    group: int = 1
    dilations: tuple[int, int] = (1, 1)
    per_channel: bool = True
    bias: bool = True
    activation: str | None = None
    params: tuple[float, ...] = ()
    auto_pad: str | None = None
    # Weights over the whole int8 range, -128 included: checked against NumPy only (ONNX Runtime's AVX2 u8s8
    # kernel may saturate on -128 * 255 pairs; the engine's kernels are exact by contract).
    full_range: bool = False


CONV_CASES = [
    ConvCase("stem_3x3_s2_3to32_relu6", (1, 3, 17, 16), 32, (3, 3), (2, 2), (1, 1, 1, 1), activation="Clip",
             params=(0.0, 6.0)),
    ConvCase("pointwise_1x1_16to24_per_tensor_nobias", (1, 16, 8, 9), 24, (1, 1), per_channel=False, bias=False),
    ConvCase("pointwise_1x1_expand_relu", (2, 24, 5, 6), 72, (1, 1), activation="Relu"),
    ConvCase("pointwise_1x1_k256", (1, 256, 3, 4), 40, (1, 1)),
    ConvCase("dense_3x3_s1_p1_relu", (1, 8, 9, 7), 12, (3, 3), pads=(1, 1, 1, 1), activation="Relu"),
    ConvCase("dense_3x3_s2_p1", (1, 16, 10, 11), 20, (3, 3), (2, 2), (1, 1, 1, 1), per_channel=False),
    ConvCase("depthwise_3x3_s1_p1_relu6", (1, 24, 10, 10), 24, (3, 3), pads=(1, 1, 1, 1), group=24,
             activation="Clip", params=(0.0, 6.0)),
    ConvCase("depthwise_3x3_s2_p1_batch2", (2, 32, 9, 9), 32, (3, 3), (2, 2), (1, 1, 1, 1), group=32),
    ConvCase("depthwise_5x5_s1_p2_per_tensor", (1, 20, 8, 8), 20, (5, 5), pads=(2, 2, 2, 2), group=20,
             per_channel=False, bias=False),
    ConvCase("depthwise_5x5_s2_p2", (1, 40, 11, 9), 40, (5, 5), (2, 2), (2, 2, 2, 2), group=40),
    ConvCase("grouped_3x3_g4", (1, 16, 7, 8), 32, (3, 3), pads=(1, 1, 1, 1), group=4),
    ConvCase("pointwise_1x1_s2", (1, 8, 9, 9), 16, (1, 1), (2, 2)),
    ConvCase("dilated_3x3_d2_asym_pads", (1, 6, 10, 9), 10, (3, 3), pads=(2, 1, 1, 2), dilations=(2, 2)),
    ConvCase("same_upper_3x3_s2", (1, 12, 7, 8), 8, (3, 3), (2, 2), auto_pad="SAME_UPPER"),
    ConvCase("dense_3x3_full_int8_range", (1, 20, 6, 7), 36, (3, 3), pads=(1, 1, 1, 1), full_range=True),
    ConvCase("depthwise_3x3_full_int8_range", (1, 48, 6, 6), 48, (3, 3), (2, 2), (1, 1, 1, 1), group=48,
             full_range=True),
    ConvCase("pointwise_1x1_full_int8_range", (1, 64, 4, 5), 24, (1, 1), full_range=True),
]


def conv_params(c: ConvCase):
    """Weights, bias and quantization parameters of a case, with y chosen from the exact accumulator."""
    x_scale, x_zp = np.float32(0.02), 117
    w = i8(c.m, c.x[1] // c.group, *c.k, lo=-128 if c.full_range else -127)
    if c.full_range:
        w.flat[::3] = -128  # the extreme products 255 * -128, many of them in one sum
    w_scale = (rng.uniform(0.002, 0.02, size=c.m) if c.per_channel else np.array([0.01])).astype(F32)
    bias = rng.integers(-3000, 3000, size=c.m).astype(I32) if c.bias else None
    return x_scale, x_zp, w, w_scale, bias


def qconv_graph(g: Graph, x: str, c: ConvCase, x_scale, x_zp, w, w_scale, bias, y_scale, y_zp, out: str,
                tag: str = "") -> None:
    """A QLinearConv node (the engine's fused activation; ORT gets DequantizeLinear -> act -> QuantizeLinear)."""
    ins = [x, g.const(f"xs{tag}", f32(x_scale)), g.const(f"xz{tag}", np.uint8(x_zp)), g.const(f"w{tag}", w),
           g.const(f"ws{tag}", f32(w_scale) if c.per_channel else f32(w_scale[0])),
           g.const(f"wz{tag}", np.zeros(c.m, I8) if c.per_channel else np.int8(0)),
           g.const(f"ys{tag}", f32(y_scale)), g.const(f"yz{tag}", np.uint8(y_zp))]
    if bias is not None:
        ins.append(g.const(f"b{tag}", bias))
    attrs = dict(kernel_shape=list(c.k), strides=list(c.strides), dilations=list(c.dilations), group=c.group)
    if c.auto_pad:
        attrs["auto_pad"] = c.auto_pad
    else:
        attrs["pads"] = list(c.pads)
    if c.activation is None:
        g.node("QLinearConv", ins, {out: U8}, **attrs)
        return
    act = dict(activation=c.activation)
    if c.params:
        act["activation_params"] = [float(p) for p in c.params]
    g.node("QLinearConv", ins, {out: U8}, where="engine", **attrs, **act)
    g.node("QLinearConv", ins, {f"{out}_pre": U8}, where="ort", **attrs)
    g.node("DequantizeLinear", [f"{out}_pre", f"ys{tag}", f"yz{tag}"], {f"{out}_f": F32}, where="ort")
    if c.activation == "Relu":
        g.node("Relu", [f"{out}_f"], {f"{out}_a": F32}, where="ort")
    else:
        g.node("Clip", [f"{out}_f", g.const(f"lo{tag}", f32(c.params[0])), g.const(f"hi{tag}", f32(c.params[1]))],
               {f"{out}_a": F32}, where="ort")
    g.node("QuantizeLinear", [f"{out}_a", f"ys{tag}", f"yz{tag}"], {out: U8}, where="ort")


def resolved_pads(c: ConvCase) -> tuple[int, int, int, int]:
    if not c.auto_pad:
        return c.pads
    pads = []
    for d in range(2):
        n, k, s = c.x[2 + d], c.k[d], c.strides[d]
        total = max(0, ((n + s - 1) // s - 1) * s + (k - 1) * c.dilations[d] + 1 - n)
        pads.append((total // 2, total - total // 2))
    return pads[0][0], pads[1][0], pads[0][1], pads[1][1]


@pytest.mark.parametrize("c", CONV_CASES, ids=lambda c: c.id)
def test_qlinearconv(c: ConvCase) -> None:
    x = u8(*c.x)
    x_scale, x_zp, w, w_scale, bias = conv_params(c)
    acc = conv_acc(x, x_zp, w, bias, c.strides, resolved_pads(c), c.dilations, c.group)
    y_scale, y_zp = output_params(acc * float(x_scale) * float(w_scale.mean()))
    g = Graph()
    qconv_graph(g, g.input("x", x), c, x_scale, x_zp, w, w_scale, bias, y_scale, y_zp, "y")
    g.outputs = ["y"]
    mult = (np.float32(x_scale) * w_scale) / np.float32(y_scale)
    if not c.per_channel:
        mult = np.repeat(mult, c.m)
    qmin, qmax = clamp_bounds(c.activation, list(c.params), y_scale, y_zp)
    want = requant(acc, mult, y_zp, qmin, qmax)
    if c.full_range:
        x.flat[::2] = 255
        want = requant(conv_acc(x, x_zp, w, bias, c.strides, resolved_pads(c), c.dilations, c.group), mult, y_zp,
                       qmin, qmax)
    check("QLinearConv", g, {"x": x}, lambda got: {"y": want}, None if c.full_range else ["y"])


def test_qlinearconv_chain_and_constant_input() -> None:
    """Two convolutions back to back (NHWC between them); then the same with x a constant (the plain path)."""
    c1 = ConvCase("a", (1, 8, 6, 6), 8, (3, 3), pads=(1, 1, 1, 1), group=8)
    c2 = ConvCase("b", (1, 8, 6, 6), 16, (1, 1), activation="Relu")
    x = u8(*c1.x)
    xs1, xz1, w1, ws1, b1 = conv_params(c1)
    acc1 = conv_acc(x, xz1, w1, b1, c1.strides, c1.pads, c1.dilations, c1.group)
    ys1, yz1 = output_params(acc1 * float(xs1) * float(ws1.mean()))
    y1 = requant(acc1, (np.float32(xs1) * ws1) / ys1, yz1)
    _, _, w2, ws2, b2 = conv_params(c2)
    acc2 = conv_acc(y1, yz1, w2, b2, c2.strides, c2.pads, c2.dilations, c2.group)  # reads conv 1's output grid
    ys2, yz2 = output_params(acc2 * float(ys1) * float(ws2.mean()))
    want = requant(acc2, (np.float32(ys1) * ws2) / ys2, yz2, *clamp_bounds("Relu", [], ys2, yz2))
    for as_constant in (False, True):
        g = Graph()
        src = g.const("xc", x) if as_constant else g.input("x", x)
        qconv_graph(g, src, c1, xs1, xz1, w1, ws1, b1, ys1, yz1, "h", tag="1")
        qconv_graph(g, "h", c2, ys1, yz1, w2, ws2, b2, ys2, yz2, "y", tag="2")
        g.outputs = ["y"]
        check("QLinearConv", g, {} if as_constant else {"x": x}, lambda got: {"y": want}, ["y"])


# ---- QGemm / QLinearMatMul ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("f32_out", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("m,k,n", [(1, 1280, 10), (5, 37, 19)])
def test_qgemm(trans_b: int, f32_out: bool, per_channel: bool, m: int, k: int, n: int) -> None:
    a = u8(m, k)
    b = i8(k, n)
    a_scale, a_zp = np.float32(0.05), 3
    b_scale = (rng.uniform(0.001, 0.01, n) if per_channel else np.array([0.004])).astype(F32)
    c = rng.integers(-20000, 20000, n).astype(I32)
    acc = (a.astype(np.int64) - a_zp) @ b.astype(np.int64) + c
    g = Graph()
    ins = [g.input("a", a), g.const("as", a_scale), g.const("az", np.uint8(a_zp)),
           g.const("b", np.ascontiguousarray(b.T) if trans_b else b),
           g.const("bs", b_scale if per_channel else b_scale[0]),
           g.const("bz", np.zeros(n, I8) if per_channel else np.int8(0)), g.const("c", c)]
    alpha = 1.0
    out_scale = np.float32(alpha) * a_scale * (b_scale if per_channel else np.repeat(b_scale, n))
    if f32_out:
        g.node("QGemm", ins, {"y": F32}, domain="com.microsoft", transB=trans_b, alpha=alpha)
        want = acc.astype(np.int32).astype(np.float32) * out_scale[None, :]
    else:
        y_scale, y_zp = output_params(acc * float(a_scale) * float(b_scale.mean()))
        ins += [g.const("ys", y_scale), g.const("yz", np.uint8(y_zp))]
        g.node("QGemm", ins, {"y": U8}, domain="com.microsoft", transB=trans_b, alpha=alpha)
        want = requant(acc, out_scale / y_scale, y_zp)
    g.outputs = ["y"]
    check("QGemm (f32 out)" if f32_out else "QGemm", g, {"a": a}, lambda got: {"y": want}, ["y"])


def test_qgemm_without_bias_with_relu() -> None:
    m, k, n = 3, 64, 33
    a, b = u8(m, k), i8(n, k)
    a_scale, a_zp = np.float32(0.03), 128
    b_scale = np.float32(0.006)
    acc = (a.astype(np.int64) - a_zp) @ b.astype(np.int64).T
    y_scale, y_zp = output_params(acc * float(a_scale) * float(b_scale))
    g = Graph()
    ins = [g.input("a", a), g.const("as", a_scale), g.const("az", np.uint8(a_zp)), g.const("b", b),
           g.const("bs", b_scale), g.const("bz", np.int8(0)), None, g.const("ys", y_scale),
           g.const("yz", np.uint8(y_zp))]
    g.node("QGemm", ins, {"y": U8}, domain="com.microsoft", where="engine", transB=1, activation="Relu")
    g.node("QGemm", ins, {"pre": U8}, domain="com.microsoft", where="ort", transB=1)
    g.node("DequantizeLinear", ["pre", "ys", "yz"], {"f": F32}, where="ort")
    g.node("Relu", ["f"], {"r": F32}, where="ort")
    g.node("QuantizeLinear", ["r", "ys", "yz"], {"y": U8}, where="ort")
    g.outputs = ["y"]
    mult = np.repeat(a_scale * b_scale / y_scale, n)
    want = requant(acc, mult, y_zp, *clamp_bounds("Relu", [], y_scale, y_zp))
    check("QGemm", g, {"a": a}, lambda got: {"y": want}, ["y"])


def test_qgemm_full_int8_range() -> None:
    """255 * -128 products everywhere (NumPy only: ONNX Runtime's AVX2 kernel may saturate them)."""
    m, k, n = 7, 1000, 21
    a = np.full((m, k), 255, U8)
    a[:, 1::2] = u8(m, k // 2)
    b = i8(k, n, lo=-128)
    b[::2] = -128
    a_scale, a_zp, b_scale = np.float32(0.01), 0, np.float32(0.001)
    acc = (a.astype(np.int64) - a_zp) @ b.astype(np.int64)
    y_scale, y_zp = output_params(acc * float(a_scale) * float(b_scale))
    g = Graph()
    g.node("QGemm", [g.input("a", a), g.const("as", a_scale), g.const("az", np.uint8(a_zp)), g.const("b", b),
                     g.const("bs", b_scale), g.const("bz", np.int8(0)), None, g.const("ys", y_scale),
                     g.const("yz", np.uint8(y_zp))], {"y": U8}, domain="com.microsoft")
    g.outputs = ["y"]
    want = requant(acc, np.repeat(a_scale * b_scale / y_scale, n), y_zp)
    check("QGemm", g, {"a": a}, lambda got: {"y": want})


@pytest.mark.parametrize("a_shape", [(4, 24), (2, 3, 5, 24)])
@pytest.mark.parametrize("per_column", [False, True])
def test_qlinearmatmul(a_shape: tuple[int, ...], per_column: bool) -> None:
    k, n = a_shape[-1], 13
    a, b = u8(*a_shape), i8(k, n)
    a_scale, a_zp = np.float32(0.04), 77
    b_scale = (rng.uniform(0.002, 0.01, n) if per_column else np.array([0.005])).astype(F32)
    acc = (a.astype(np.int64) - a_zp) @ b.astype(np.int64)
    y_scale, y_zp = output_params(acc * float(a_scale) * float(b_scale.mean()))
    g = Graph()
    g.node("QLinearMatMul", [g.input("a", a), g.const("as", a_scale), g.const("az", np.uint8(a_zp)), g.const("b", b),
                             g.const("bs", b_scale if per_column else b_scale[0]),
                             g.const("bz", np.zeros(n, I8) if per_column else np.int8(0)), g.const("ys", y_scale),
                             g.const("yz", np.uint8(y_zp))], {"y": U8})
    g.outputs = ["y"]
    mult = a_scale * b_scale / y_scale
    want = requant(acc, mult if per_column else np.repeat(mult, n), y_zp, axis=-1)
    check("QLinearMatMul", g, {"a": a}, lambda got: {"y": want}, ["y"])


# ---- QLinearAdd / QLinearMul ----------------------------------------------------------------------------------------

def qbinary_reference(op: str, a, b, ap, bp, yp, relu: bool = False) -> np.ndarray:
    (a_scale, a_zp), (b_scale, b_zp), (y_scale, y_zp) = ap, bp, yp
    af = (a.astype(np.int32) - a_zp).astype(np.float32)
    bf = (b.astype(np.int32) - b_zp).astype(np.float32)
    if op == "QLinearAdd":
        v = af * (f32(a_scale) / f32(y_scale)) + bf * (f32(b_scale) / f32(y_scale))
    else:
        v = af * bf * (f32(a_scale) * f32(b_scale) / f32(y_scale))
    qmin = y_zp if relu else 0
    return np.clip(np.rint(v) + np.float32(y_zp), qmin, 255).astype(U8)


BINARY_SHAPES = [("same", (1, 16, 6, 7), (1, 16, 6, 7)), ("squeeze_excite", (2, 24, 5, 5), (2, 24, 1, 1)),
                 ("scalar", (1, 8, 4, 4), (1,)), ("spatial_bcast", (1, 8, 3, 3), (1, 1, 3, 3))]


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("sa,sb,nhwc", [(a, b, nhwc) for _, a, b in BINARY_SHAPES for nhwc in (False, True)]
                         + [((3, 1, 5), (4, 1), False)],
                         ids=[f"{i}_{'after_conv' if nhwc else 'plain'}" for i, _, _ in BINARY_SHAPES
                              for nhwc in (False, True)] + ["rank3_both_ways"])
def test_qlinear_add_mul(op: str, sa, sb, nhwc: bool) -> None:
    ap, bp = (np.float32(0.031), 120), (np.float32(0.017), 9)
    yp = (np.float32(0.045), 100) if op == "QLinearAdd" else (np.float32(0.004), 30)
    g = Graph()
    a = u8(*sa)
    b = u8(*sb)
    feeds = {"b": b}
    if nhwc:
        # A comes out of a depthwise 1x1 conv with weight 1 and the same scales: A == x, but NHWC.
        c = sa[1]
        g.node("QLinearConv", [g.input("x", a), g.const("xs", ap[0]), g.const("xz", np.uint8(ap[1])),
                               g.const("w", np.ones((c, 1, 1, 1), I8)), g.const("ws", np.float32(1.0)),
                               g.const("wz", np.int8(0)), g.const("cs", ap[0]), g.const("cz", np.uint8(ap[1]))],
               {"a": U8}, group=c)
        feeds["x"] = a
    else:
        g.input("a", a)
        feeds["a"] = a
    g.input("b", b)
    g.node(op, ["a", g.const("as", ap[0]), g.const("az", np.uint8(ap[1])), "b", g.const("bs", bp[0]),
                g.const("bz", np.uint8(bp[1])), g.const("ys", yp[0]), g.const("yz", np.uint8(yp[1]))], {"y": U8},
           domain="com.microsoft")
    g.outputs = ["y"]
    want = qbinary_reference(op, a, b, ap, bp, yp)
    check(op, g, feeds, lambda got: {"y": want}, ["y"])
    # The same with the operands swapped (A broadcast against B).
    g2 = Graph()
    g2.node(op, [g2.input("b", b), g2.const("bs", bp[0]), g2.const("bz", np.uint8(bp[1])), g2.input("a", a),
                 g2.const("as", ap[0]), g2.const("az", np.uint8(ap[1])), g2.const("ys", yp[0]),
                 g2.const("yz", np.uint8(yp[1]))], {"y": U8}, domain="com.microsoft")
    g2.outputs = ["y"]
    want2 = qbinary_reference(op, b, a, bp, ap, yp)
    check(op, g2, {"a": a, "b": b}, lambda got: {"y": want2}, ["y"])


def test_qlinearadd_relu_and_mixed_layouts() -> None:
    """Residual add of an NHWC conv output and a plain graph input, with the fused Relu."""
    shape = (1, 12, 5, 6)
    x, r = u8(*shape), u8(*shape)
    ap, bp, yp = (np.float32(0.02), 128), (np.float32(0.03), 100), (np.float32(0.04), 90)
    g = Graph()
    g.node("QLinearConv", [g.input("x", x), g.const("xs", ap[0]), g.const("xz", np.uint8(ap[1])),
                           g.const("w", np.ones((12, 1, 1, 1), I8)), g.const("ws", np.float32(1.0)),
                           g.const("wz", np.int8(0)), g.const("cs", ap[0]), g.const("cz", np.uint8(ap[1]))],
           {"a": U8}, group=12)
    ins = ["a", g.const("as", ap[0]), g.const("az", np.uint8(ap[1])), g.input("r", r), g.const("bs", bp[0]),
           g.const("bz", np.uint8(bp[1])), g.const("ys", yp[0]), g.const("yz", np.uint8(yp[1]))]
    g.node("QLinearAdd", ins, {"y": U8}, domain="com.microsoft", where="engine", activation="Relu")
    g.node("QLinearAdd", ins, {"pre": U8}, domain="com.microsoft", where="ort")
    g.node("DequantizeLinear", ["pre", "ys", "yz"], {"f": F32}, where="ort")
    g.node("Relu", ["f"], {"rl": F32}, where="ort")
    g.node("QuantizeLinear", ["rl", "ys", "yz"], {"y": U8}, where="ort")
    g.outputs = ["y"]
    want = qbinary_reference("QLinearAdd", x, r, ap, bp, yp, relu=True)
    check("QLinearAdd", g, {"x": x, "r": r}, lambda got: {"y": want}, ["y"])


# ---- QLinearGlobalAveragePool ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,after_conv", [((1, 32, 7, 7), True), ((2, 20, 5, 3), False), ((2, 6, 10), False)],
                         ids=["nhwc_after_conv", "graph_input", "rank3_plain"])
def test_qlinear_global_average_pool(shape, after_conv: bool) -> None:
    x = u8(*shape)
    xp, yp = (np.float32(0.05), 100), (np.float32(0.021), 40)
    g = Graph()
    src = g.input("x", x)
    if after_conv:
        c = shape[1]
        g.node("QLinearConv", [src, g.const("xs0", xp[0]), g.const("xz0", np.uint8(xp[1])),
                               g.const("w", np.ones((c, 1, 1, 1), I8)), g.const("ws", np.float32(1.0)),
                               g.const("wz", np.int8(0)), g.const("cs", xp[0]), g.const("cz", np.uint8(xp[1]))],
               {"h": U8}, group=c)
        src = "h"
    g.node("QLinearGlobalAveragePool", [src, g.const("xs", xp[0]), g.const("xz", np.uint8(xp[1])),
                                        g.const("ys", yp[0]), g.const("yz", np.uint8(yp[1]))], {"y": U8},
           domain="com.microsoft", channels_last=0)
    g.outputs = ["y"]
    axes = tuple(range(2, len(shape)))
    pixels = int(np.prod(shape[2:]))
    acc = x.astype(np.int64).sum(axis=axes, keepdims=True) - pixels * xp[1]
    mult = np.float32(xp[0]) / (np.float32(yp[0]) * np.float32(pixels))
    want = np.clip(np.rint(acc.astype(np.int32).astype(np.float32) * mult) + np.float32(yp[1]), 0, 255).astype(U8)
    check("QLinearGlobalAveragePool", g, {"x": x}, lambda got: {"y": want}, ["y"])


# ---- QuantizeLinear / DequantizeLinear -------------------------------------------------------------------------------

def test_quantize_linear_per_tensor() -> None:
    x = (rng.standard_normal((2, 3, 7, 5)) * 3).astype(F32)
    x.flat[:6] = [np.nan, np.inf, -np.inf, 1e30, 0.5 * 0.02, 1.5 * 0.02]  # NaN, saturation, ties
    scale, zp = np.float32(0.02), 131
    g = Graph()
    g.node("QuantizeLinear", [g.input("x", x), g.const("s", scale), g.const("z", np.uint8(zp))], {"y": U8})
    g.outputs = ["y"]
    want = quantize(x, scale, zp)
    # ORT saturates NaN differently; compare it on the finite elements only (a second graph).
    check("QuantizeLinear", g, {"x": x}, lambda got: {"y": want})
    xf = x.copy()
    xf.flat[0] = 0.0
    check("QuantizeLinear", g, {"x": xf}, lambda got: {"y": quantize(xf, scale, zp)}, ["y"])


def test_quantize_linear_without_zero_point() -> None:
    x = np.abs(rng.standard_normal((4, 9))).astype(F32)
    g = Graph()
    g.node("QuantizeLinear", [g.input("x", x), g.const("s", np.float32(0.01))], {"y": U8})
    g.outputs = ["y"]
    check("QuantizeLinear", g, {"x": x}, lambda got: {"y": quantize(x, 0.01, 0)}, ["y"])


@pytest.mark.parametrize("after_conv", [False, True], ids=["plain", "nhwc"])
def test_quantize_dequantize_per_axis(after_conv: bool) -> None:
    c = 6
    scale = rng.uniform(0.01, 0.05, c).astype(F32)
    zp = rng.integers(0, 256, c).astype(U8)
    g = Graph()
    x = (rng.standard_normal((2, c, 4, 5)) * 2).astype(F32)
    src = g.input("x", x)
    if after_conv:
        # An fp32 depthwise conv with weight 1: the tensor is the input, but NHWC in the engine.
        g.node("Conv", [src, g.const("w", np.ones((c, 1, 1, 1), F32))], {"h": F32}, group=c)
        src = "h"
    g.node("QuantizeLinear", [src, g.const("s", scale), g.const("z", zp)], {"q": U8}, axis=1)
    g.node("DequantizeLinear", ["q", "s", "z"], {"d": F32}, axis=1)
    g.outputs = ["q", "d"]
    s4, z4 = scale.reshape(1, c, 1, 1), zp.reshape(1, c, 1, 1)
    q = quantize(x, s4, z4.astype(np.int32))
    check("QuantizeLinear (per axis)", g, {"x": x}, lambda got: {"q": q, "d": dequantize(q, s4, z4)}, ["q", "d"])


@pytest.mark.parametrize("dtype", [U8, I8, I32])
def test_dequantize_linear_dtypes(dtype) -> None:
    if dtype == I32:
        x = rng.integers(-100000, 100000, (3, 5, 4)).astype(I32)
        zp = np.int32(0)
    else:
        x = (u8 if dtype == U8 else i8)(3, 5, 4)
        zp = dtype(7) if dtype == U8 else dtype(-5)
    scale = np.float32(0.0123)
    g = Graph()
    g.node("DequantizeLinear", [g.input("x", x), g.const("s", scale), g.const("z", zp)], {"y": F32})
    g.outputs = ["y"]
    check("DequantizeLinear", g, {"x": x}, lambda got: {"y": dequantize(x, scale, zp)}, ["y"], rtol=0)


def test_dequantize_linear_constant_per_axis() -> None:
    """A float island's int8 weights, per output channel (axis 0), dequantized at load."""
    w = i8(8, 3, 3, 3, lo=-128)
    scale = rng.uniform(0.001, 0.01, 8).astype(F32)
    g = Graph()
    g.node("DequantizeLinear", [g.const("w", w), g.const("s", scale), g.const("z", np.zeros(8, I8))], {"y": F32},
           axis=0)
    g.node("Identity", ["y"], {"out": F32})
    g.outputs = ["out"]
    want = dequantize(w, scale.reshape(8, 1, 1, 1), 0)
    check("DequantizeLinear", g, {}, lambda got: {"out": want}, ["out"], rtol=0)


def test_float_conv_reads_an_int8_weight_dequantized_once_at_load() -> None:
    """A Conv that stays float (its output is not quantized) keeps its weight int8 in the file; the engine
    dequantizes it when the session opens, so the Conv packs it like any float weight."""
    w = i8(6, 4, 3, 3, lo=-128)
    scale = rng.uniform(0.001, 0.01, 6).astype(F32)
    x = rng.standard_normal((1, 4, 7, 7)).astype(F32)
    g = Graph()
    g.input("x", x)
    g.node("DequantizeLinear", [g.const("w", w), g.const("s", scale), g.const("z", np.zeros(6, I8))], {"wf": F32},
           axis=0)
    g.node("Conv", ["x", "wf"], {"y": F32}, pads=[1, 1, 1, 1])
    g.outputs = ["y"]
    check("DequantizeLinear", g, {"x": x}, None, ["y"], rtol=2e-5)
    sess = engine.Session(g.slm())
    sess.run(None, {"x": x})
    # the DequantizeLinear is gone from the graph that runs, and its float32 result is held as a weight
    assert all(p.op_type != "DequantizeLinear" for p in sess.profile())
    assert sess.memory.weights_bytes >= w.size * 4


# ---- QLinearLookup, QLinearConcat ------------------------------------------------------------------------------------

def test_qlinear_lookup_matches_ort_dq_sigmoid_q() -> None:
    xs, xz, ys, yz = np.float32(0.05), 128, np.float32(1.0 / 256), 0
    g = Graph()
    g.node("DequantizeLinear", [g.input("x", u8(2, 16, 5, 5)), g.const("xs", xs), g.const("xz", np.uint8(xz))],
           {"f": F32}, where="ort")
    g.node("Sigmoid", ["f"], {"s": F32}, where="ort")
    g.node("QuantizeLinear", ["s", g.const("ys", ys), g.const("yz", np.uint8(yz))], {"y": U8}, where="ort")
    g.outputs = ["y"]
    # The table is ORT's own Q(sigmoid(DQ(code))) for every code, as the converter computes it.
    codes = np.arange(256, dtype=U8).reshape(1, 256, 1, 1)
    gt = Graph(inputs={"x": codes}, consts=g.consts, dtypes=g.dtypes, nodes=g.nodes, outputs=["y"])
    table = ort_run(gt.onnx(), {"x": codes})[0].reshape(256)
    g.node("QLinearLookup", ["x", g.const("table", table)], {"y": U8}, where="engine")
    x = u8(2, 16, 5, 5)
    check("QLinearLookup", g, {"x": x}, lambda got: {"y": table[x]}, ["y"])


def test_qlinear_lookup_after_conv() -> None:
    x = u8(1, 8, 4, 4)
    table = rng.permutation(256).astype(U8)
    g = Graph()
    g.node("QLinearConv", [g.input("x", x), g.const("xs", np.float32(0.1)), g.const("xz", np.uint8(0)),
                           g.const("w", np.ones((8, 1, 1, 1), I8)), g.const("ws", np.float32(1.0)),
                           g.const("wz", np.int8(0)), g.const("cs", np.float32(0.1)), g.const("cz", np.uint8(0))],
           {"h": U8}, group=8)
    g.node("QLinearLookup", ["h", g.const("t", table)], {"y": U8})
    g.outputs = ["y"]
    check("QLinearLookup", g, {"x": x}, lambda got: {"y": table[x]})


def test_qlinear_concat() -> None:
    """Channel concat of an NHWC conv output and plain graph inputs, two of them requantized."""
    shape = (1, 4, 5, 6)
    x0, x1, x2 = u8(*shape), u8(1, 3, 5, 6), u8(1, 2, 5, 6)
    yp = (np.float32(0.05), 110)
    p0, p1, p2 = yp, (np.float32(0.02), 3), (np.float32(0.11), 250)
    g = Graph()
    g.node("QLinearConv", [g.input("x0", x0), g.const("s0", p0[0]), g.const("z0", np.uint8(p0[1])),
                           g.const("w", np.ones((4, 1, 1, 1), I8)), g.const("ws", np.float32(1.0)),
                           g.const("wz", np.int8(0)), "s0", "z0"], {"h": U8}, group=4)
    g.node("QLinearConcat", [g.const("ys", yp[0]), g.const("yz", np.uint8(yp[1])), "h", "s0", "z0",
                             g.input("x1", x1), g.const("s1", p1[0]), g.const("z1", np.uint8(p1[1])),
                             g.input("x2", x2), g.const("s2", p2[0]), g.const("z2", np.uint8(p2[1]))], {"y": U8},
           domain="com.microsoft", axis=1)
    g.outputs = ["y"]
    want = np.concatenate([x0, quantize(dequantize(x1, *p1), *yp), quantize(dequantize(x2, *p2), *yp)], axis=1)
    check("QLinearConcat", g, {"x0": x0, "x1": x1, "x2": x2}, lambda got: {"y": want}, ["y"])


# ---- uint8 through the layout-free ops -------------------------------------------------------------------------------

def i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=I64)


MOVEMENT = [
    ("MaxPool_3x3_s2_p1", "MaxPool", [], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("MaxPool_2x2_ceil", "MaxPool", [], dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ("Reshape", "Reshape", [i64(1, -1)], {}),
    ("Flatten", "Flatten", [], dict(axis=1)),
    ("Transpose", "Transpose", [], dict(perm=[0, 2, 3, 1])),
    ("Concat_self", "Concat", ["self"], dict(axis=1)),
    ("Split", "Split", [], dict(axis=1, num_outputs=2)),
    ("Slice", "Slice", [i64(1, 1), i64(5, 4), i64(1, 2)], {}),
    ("Pad_constant", "Pad", [i64(0, 0, 1, 2, 0, 0, 2, 1), np.uint8(77)], dict(mode="constant")),
    ("DepthToSpace", "DepthToSpace", [], dict(blocksize=2, mode="CRD")),
    ("SpaceToDepth", "SpaceToDepth", [], dict(blocksize=2)),
    ("Gather", "Gather", [i64(3, 0, 5)], dict(axis=1)),
    ("Identity", "Identity", [], {}),
    ("Unsqueeze", "Unsqueeze", [i64(0)], {}),
    ("Squeeze", "Squeeze", [i64(0)], {}),
    ("Resize_nearest", "Resize", ["", np.array([1, 1, 2, 1.5], F32)], dict(mode="nearest")),
]


@pytest.mark.parametrize("case", MOVEMENT, ids=[m[0] for m in MOVEMENT])
def test_uint8_movement_after_conv(case) -> None:
    """A layout-free op on uint8 right after a QLinearConv (NHWC in the engine). ORT runs the op alone on the
    engine's conv output, which it must reproduce exactly."""
    _, op, extra, attrs = case
    c = 8
    x = u8(1, c, 6, 8)
    g = Graph()
    g.node("QLinearConv", [g.input("x", x), g.const("xs", np.float32(0.1)), g.const("xz", np.uint8(5)),
                           g.const("w", i8(c, 1, 1, 1)), g.const("ws", np.float32(0.03)),
                           g.const("wz", np.int8(0)), g.const("ys", np.float32(0.05)), g.const("yz", np.uint8(128))],
           {"h": U8}, group=c)
    ins = ["h"]
    for i, e in enumerate(extra):
        if isinstance(e, str):
            ins.append("h" if e == "self" else None)
        else:
            ins.append(g.const(f"e{i}", e))
    outs = {"y0": U8, "y1": U8} if op == "Split" else {"y0": U8}
    # Split's num_outputs is opset 18: ORT (opset 17 here) gets the sizes as an input instead.
    if op == "Split":
        g.node(op, ins, outs, where="engine", **attrs)
    else:
        g.node(op, ins, outs, **attrs)
    g.outputs = ["h", *outs]
    data = g.slm()
    one = Graph(inputs={"h": u8(1, c, 6, 8)}, consts={k: v for k, v in g.consts.items() if k.startswith("e")},
                dtypes=dict(outs))
    if op == "Split":
        one.node(op, ["h", one.const("split", i64(4, 4))], outs, axis=1)
    else:
        one.node(op, ["h", *ins[1:]], outs, **attrs)
    one.outputs = list(outs)
    for isa in ISAS:
        for threads in THREADS:
            got = engine.Session(data, threads=threads, isa=isa).run(None, {"x": x})
            want = ort_run(one.onnx(), {"h": got[0]})
            for a, e in zip(got[1:], want):
                assert a.dtype == np.uint8 and a.shape == e.shape, (op, isa, a.shape, e.shape)
                np.testing.assert_array_equal(a, e, err_msg=f"{op} isa={isa} threads={threads}")
                record(f"uint8 {op}", a, e)


@pytest.mark.parametrize("shape,attrs", [((1, 5, 9, 7), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
                                         ((2, 3, 11), dict(kernel_shape=[3], strides=[2]))],
                         ids=["2d_graph_input", "1d_plain"])
def test_uint8_maxpool(shape, attrs) -> None:
    x = u8(*shape)
    g = Graph()
    g.node("MaxPool", [g.input("x", x)], {"y": U8}, **attrs)
    g.outputs = ["y"]
    check("uint8 MaxPool", g, {"x": x}, None, ["y"])


@pytest.mark.parametrize("dtype", [U8, F32])
def test_maxpool_empty_image_padded_into_windows(dtype) -> None:
    """W = 0 with pads 1 + 1 and a kernel of 2 has one output column that sees padding only (a fuzzer find:
    it reached the pooling kernels, which refuse empty images)."""
    x = np.zeros((1, 5, 9, 0), dtype)
    g = Graph()
    g.node("MaxPool", [g.input("x", x)], {"y": dtype}, kernel_shape=[3, 2], strides=[2, 2], pads=[1, 1, 1, 1])
    g.outputs = ["y"]
    fill = np.array(0 if dtype == U8 else -np.inf, dtype)
    check("uint8 MaxPool", g, {"x": x}, lambda got: {"y": np.full((1, 5, 5, 1), fill, dtype)})


def test_int8_movement() -> None:
    """int8 tensors (graph inputs, so plain) through the byte-generic movement ops."""
    x = i8(2, 3, 4, 5, lo=-128)
    g = Graph()
    g.node("Transpose", [g.input("x", x)], {"t": I8}, perm=[0, 2, 3, 1])
    g.node("Slice", ["t", g.const("st", i64(1)), g.const("en", i64(3)), g.const("ax", i64(1))], {"s": I8})
    g.node("Concat", ["s", "s"], {"c": I8}, axis=0)
    g.node("Reshape", ["c", g.const("sh", i64(4, -1))], {"y": I8})
    g.outputs = ["y"]
    t = x.transpose(0, 2, 3, 1)[:, 1:3]
    want = np.concatenate([t, t], axis=0).reshape(4, -1)
    check("int8 movement", g, {"x": x}, lambda got: {"y": want}, ["y"])


def test_uint8_int8_dtypes_listed() -> None:
    ops = engine.supported_ops()
    for op in ["MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "Pad",
               "DepthToSpace", "SpaceToDepth", "Gather", "Identity", "Resize", "QLinearConv", "QGemm", "QLinearMatMul",
               "QLinearAdd", "QLinearMul", "QLinearLookup", "QLinearGlobalAveragePool", "DequantizeLinear"]:
        assert "uint8" in ops[op], op
    for op in ["Reshape", "Transpose", "Concat", "Slice", "Gather", "Identity", "DequantizeLinear"]:
        assert "int8" in ops[op], op
    assert ops["QuantizeLinear"] == ["float32"] and "QLinearConcat" in ops


def test_resize_linear_uint8_is_refused() -> None:
    g = Graph()
    g.node("Resize", [g.input("x", u8(1, 2, 3, 3)), None, g.const("s", np.array([1, 1, 2, 2], F32))], {"y": U8},
           mode="linear")
    g.outputs = ["y"]
    engine_error(g, {"x": u8(1, 2, 3, 3)}, r"linear mode needs float32")


# ---- bad models ------------------------------------------------------------------------------------------------------

def bad_conv(**over) -> tuple[Graph, dict[str, np.ndarray]]:
    """A 1x1 QLinearConv named 'qc' with any input replaced: value arrays become constants, a str a graph input."""
    x = u8(1, 4, 3, 3)
    parts = dict(xs=np.float32(0.1), xz=np.uint8(3), w=i8(6, 4, 1, 1), ws=np.full(6, 0.01, F32),
                 wz=np.zeros(6, I8), ys=np.float32(0.2), yz=np.uint8(7), b=np.zeros(6, I32))
    parts.update(over)
    g = Graph()
    feeds = {"x": x}
    ins = [g.input("x", x)]
    for k, v in parts.items():
        if isinstance(v, tuple):  # ("input", value): a graph input instead of a constant
            ins.append(g.input(k, v[1]))
            feeds[k] = v[1]
        else:
            ins.append(g.const(k, v))
    g.nodes.append(Node("QLinearConv", ins, ["y"], {}, name="qc"))
    g.dtypes["y"] = U8
    g.outputs = ["y"]
    return g, feeds


@pytest.mark.parametrize("over,message", [
    (dict(xs=np.float32(0.0)), r"x_scale \(input 1\) value 0 must be finite and > 0"),
    (dict(ys=np.float32(-0.5)), r"y_scale \(input 6\) value -0.5 must be finite and > 0"),
    (dict(xs=np.float32(np.nan)), r"x_scale \(input 1\) value nan must be finite and > 0"),
    (dict(ys=np.float32(np.inf)), r"y_scale \(input 6\) value inf must be finite and > 0"),
    (dict(ws=np.array([0.01, 0.01, 0.0, 0.01, 0.01, 0.01], F32)),
     r"w_scale \(input 4\) value 0 at index 2 must be finite and > 0"),
    (dict(ws=np.full(5, 0.01, F32), wz=np.zeros(5, I8)),
     r"w_scale \(input 4\) has shape \[5\]: expected 1 value \(per tensor\) or 6 \(per channel\)"),
    (dict(xs=np.full(4, 0.1, F32)), r"x_scale \(input 1\) has shape \[4\]: expected a single value"),
    (dict(wz=np.array([0, 0, 1, 0, 0, 0], I8)), r"w_zero_point \(input 5\) must be 0 \(symmetric int8 weights\), "
                                                r"got 1 at index 2"),
    (dict(w=("input", i8(6, 4, 1, 1))), r"w \(input 3\) must be a constant"),
    (dict(xs=("input", np.float32(0.1))), r"x_scale \(input 1\) must be a constant"),
    (dict(w=u8(6, 4, 1, 1)), r"w \(input 3\) has dtype uint8, expected int8"),
    (dict(xz=np.int8(3)), r"x_zero_point \(input 2\) has dtype int8, expected uint8"),
    (dict(yz=np.int8(3)), r"y_zero_point \(input 7\) has dtype int8, expected uint8"),
    (dict(b=np.zeros(6, F32)), r"B \(input 8\) must be int32 \[6\]"),
    (dict(b=np.full(6, 2**31 - 1, I32)), r"the int32 accumulator of output channel 0 can overflow"),
], ids=["zero_scale", "negative_scale", "nan_scale", "inf_scale", "zero_in_per_channel", "per_axis_length",
        "per_channel_x_scale", "nonzero_weight_zp", "weight_not_constant", "scale_not_constant", "uint8_weight",
        "int8_x_zp", "int8_y_zp", "float_bias", "bias_overflow"])
def test_qlinearconv_bad_inputs(over, message) -> None:
    g, feeds = bad_conv(**over)
    engine_error(g, feeds, r"node 'qc' \(QLinearConv\): " + message)


def test_bad_fused_activation_and_quantize_int8() -> None:
    g, feeds = bad_conv()
    g.nodes[0].attrs = dict(activation="LeakyRelu", activation_params=[0.1])
    engine_error(g, feeds, r"\(QLinearConv\): fused activation 'LeakyRelu' is not supported on a quantized op")
    g = Graph()
    g.node("QuantizeLinear", [g.input("x", f32([[1.0]])), g.const("s", np.float32(0.1)), g.const("z", np.int8(0))],
           {"y": I8})
    g.outputs = ["y"]
    engine_error(g, {"x": f32([[1.0]])}, r"\(QuantizeLinear\): int8 output .* not supported: .*converter maps int8 "
                                          r"activations to uint8")


@pytest.mark.parametrize("op", ["QLinearAdd", "QGemm", "QLinearGlobalAveragePool", "QLinearMatMul"])
def test_other_ops_refuse_bad_scales(op: str) -> None:
    g = Graph()
    if op == "QLinearAdd":
        a = u8(2, 3)
        g.node(op, [g.input("a", a), g.const("as", np.float32(0.1)), g.const("az", np.uint8(0)), g.input("b", a),
                    g.const("bs", np.float32(-1.0)), g.const("bz", np.uint8(0)), g.const("ys", np.float32(0.1)),
                    g.const("yz", np.uint8(0))], {"y": U8})
        feeds, message = {"a": a, "b": a}, r"\(QLinearAdd\): B_scale \(input 4\) value -1 must be finite and > 0"
    elif op == "QGemm":
        a = u8(2, 3)
        g.node(op, [g.input("a", a), g.const("as", np.float32(0.1)), g.const("az", np.uint8(0)), g.const("b", i8(3, 4)),
                    g.const("bs", np.full(3, 0.1, F32)), g.const("bz", np.zeros(3, I8))], {"y": F32})
        feeds = {"a": a}
        message = r"\(QGemm\): b_scale \(input 4\) has shape \[3\]: expected 1 value \(per tensor\) or 4"
    elif op == "QLinearMatMul":
        a = u8(2, 3)
        g.node(op, [g.input("a", a), g.const("as", np.float32(0.1)), g.const("az", np.uint8(0)), g.input("b", i8(3, 4)),
                    g.const("bs", np.float32(0.1)), g.const("bz", np.int8(0)), g.const("ys", np.float32(0.1)),
                    g.const("yz", np.uint8(0))], {"y": U8})
        feeds, message = {"a": a, "b": i8(3, 4)}, r"\(QLinearMatMul\): b \(input 3\) must be a constant"
    else:
        x = u8(1, 2, 3, 3)
        g.node(op, [g.input("x", x), g.const("xs", np.float32(np.nan)), g.const("xz", np.uint8(0)),
                    g.const("ys", np.float32(0.1)), g.const("yz", np.uint8(0))], {"y": U8}, channels_last=0)
        feeds, message = {"x": x}, r"\(QLinearGlobalAveragePool\): x_scale \(input 1\) value nan must be finite"
    g.outputs = ["y"]
    engine_error(g, feeds, message)


def test_qlinearconcat_bad_arity() -> None:
    x = u8(1, 2, 2, 2)
    g = Graph()
    g.node("QLinearConcat", [g.const("ys", np.float32(0.1)), g.const("yz", np.uint8(0)), g.input("x", x),
                             g.const("xs", np.float32(0.1))], {"y": U8}, axis=1)
    g.outputs = ["y"]
    with pytest.raises(engine.EngineError, match=r"QLinearConcat.*(takes 5\.\.|triples)"):
        engine.Session(g.slm()).run(None, {"x": x})
