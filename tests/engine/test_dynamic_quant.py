"""Dynamic quantization (ONNX Runtime's quantize_dynamic): DynamicQuantizeLinear, MatMulInteger, ConvInteger and
the fused DynamicQuantMatMul (export/passes/dynamic_quant_fusion.py), at every ISA and at 1 and 2 threads.

Integer outputs are bit-exact against ONNX Runtime (and against a NumPy int64 reference where ORT has no kernel for
the type combination); float outputs of the fused op match ORT on the unfused graph within float rounding. Real
models: a 2-layer MLP, a torch TransformerEncoder and a small CNN (ConvInteger) quantized with quantize_dynamic (per
tensor and per channel), and the MLP as ORT saves it after its own fusions (com.microsoft DynamicQuantizeMatMul).
The measured differences are printed with ``-s``.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import engine
import export

ISAS = engine.available_isas()
THREADS = (1, 2)
U8, I8, I32, F32 = np.uint8, np.int8, np.int32, np.float32
ONNX_TYPE = {np.dtype(U8): TensorProto.UINT8, np.dtype(I8): TensorProto.INT8, np.dtype(I32): TensorProto.INT32,
             np.dtype(F32): TensorProto.FLOAT}
_counter = itertools.count()
REPORT: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if REPORT:
        print("\n" + "\n".join(f"{k}: {v}" for k, v in sorted(REPORT.items())))


def _model(nodes: list[onnx.NodeProto], feeds: dict[str, np.ndarray], outputs: dict[str, int],
           inits: dict[str, np.ndarray] | None = None, out_shape: list[int] | None = None) -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info(k, ONNX_TYPE[v.dtype], list(v.shape)) for k, v in feeds.items()]
    outs = [helper.make_tensor_value_info(k, t, out_shape) for k, t in outputs.items()]
    init = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, f"g{next(_counter)}", inputs, outs, init)
    opsets = [helper.make_opsetid("", 17)]
    if any(n.domain == "com.microsoft" for n in nodes):
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)  # output shapes: the converter wants them declared


def _ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray], optimize: bool = False) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _convert(model: onnx.ModelProto, tmp: Path, optimize: bool = False) -> Path:
    path = tmp / f"m{next(_counter)}.slm"
    export.convert_model(model, path, optimize=optimize)
    return path


def _engine_runs(path: Path, feeds: dict[str, np.ndarray]):
    for isa in ISAS:
        for threads in THREADS:
            sess = engine.Session(path, threads=threads, isa=isa)
            yield f"isa={isa} threads={threads}", sess, sess.run(None, feeds)


def _assert_same(got: list[np.ndarray], want: list[np.ndarray], where: str) -> None:
    assert len(got) == len(want), where
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (where, g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_array_equal(g, w, err_msg=where)


# ---- DynamicQuantizeLinear -----------------------------------------------------------------------------------

def _dql_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    big = rng.standard_normal(40000).astype(F32) * 3  # several parallel chunks and SIMD tails
    ties = (np.arange(-300, 300, dtype=F32) * 0.5).astype(F32)  # exact .5 quotients: round half to even
    nan = rng.standard_normal(37).astype(F32)
    nan[[0, 5, 36]] = np.nan
    return {
        "random": rng.standard_normal((3, 5, 7)).astype(F32),
        "big": big,
        "ties": ties,
        "positive": rng.uniform(0.5, 4, 33).astype(F32),
        "negative": -rng.uniform(0.5, 4, 33).astype(F32),
        "constant": np.full(9, 5.0, F32),
        "zeros": np.zeros((2, 3), F32),
        "empty": np.zeros((0, 4), F32),
        "nan": nan,
        "all_nan": np.full(5, np.nan, F32),
        "inf": np.array([np.inf, 1.0, -2.0], F32),
        "minus_inf": np.array([1.0, -np.inf, 3.0], F32),
        "huge_range": np.array([3e38, -3e38, 1.0], F32),
        # no denormal inputs: the engine's threads run with FTZ/DAZ (core/thread_pool.cpp), ORT's do not
    }


@pytest.mark.parametrize("case", list(_dql_inputs()))
def test_dynamic_quantize_linear_is_bit_exact_with_ort(case, tmp_path):
    x = _dql_inputs()[case]
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    model = _model([node], {"x": x}, {"y": TensorProto.UINT8, "s": TensorProto.FLOAT, "z": TensorProto.UINT8})
    want = _ort(model, {"x": x})
    path = _convert(model, tmp_path)
    for where, _, got in _engine_runs(path, {"x": x}):
        _assert_same(got, want, f"{case} {where}")


# ---- MatMulInteger -----------------------------------------------------------------------------------------

def _np_matmul_integer(a, b, a_zp, b_zp) -> np.ndarray:
    """ONNX's definition in int64, wrapped to int32 as ORT's int32 arithmetic does."""
    a64 = a.astype(np.int64) - np.asarray(a_zp, np.int64)
    b64 = b.astype(np.int64) - np.asarray(b_zp, np.int64)
    return (np.matmul(a64, b64) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


def _rand(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


MATMUL_CASES = [
    # (A shape, B shape, A dtype, B dtype, a_zp kind, b_zp kind, B constant)
    ((5, 7), (7, 4), U8, I8, "scalar", "none", True),
    ((5, 7), (7, 4), U8, I8, "scalar", "column", True),
    ((5, 7), (7, 4), U8, U8, "scalar", "scalar", True),
    ((5, 7), (7, 4), U8, U8, "scalar", "column", False),
    ((13, 70), (70, 33), U8, I8, "scalar", "scalar", False),
    ((2, 3, 9, 37), (37, 19), U8, I8, "scalar", "column", True),
    ((2, 1, 6, 5), (3, 5, 8), U8, U8, "scalar", "scalar", False),  # broadcast batch dims
    ((7,), (7, 4), U8, I8, "scalar", "none", True),  # 1-D A
    ((5, 7), (7,), U8, U8, "scalar", "scalar", False),  # 1-D B
    ((3, 5, 7), (3, 7, 4), U8, U8, "none", "batch_column", False),
    ((5, 7), (7, 4), I8, I8, "scalar", "scalar", True),
    ((5, 7), (7, 4), I8, U8, "scalar", "scalar", False),
    ((5, 300), (300, 20), U8, I8, "none", "none", True),
    ((0, 7), (7, 4), U8, I8, "scalar", "none", True),  # empty M
    ((5, 7), (7, 0), U8, U8, "scalar", "scalar", False),  # empty N
]


def _zp(rng, kind, dtype, shape, is_a):
    if kind == "none":
        return None
    if kind == "scalar":
        return _rand(rng, dtype, ())
    if kind == "column":
        return _rand(rng, dtype, (shape[-1],))
    if kind == "row":
        return _rand(rng, dtype, (shape[-2],))
    if kind == "batch_column":
        return _rand(rng, dtype, tuple(shape[:-2]) + (1, shape[-1]))
    if kind == "batch_row":
        return _rand(rng, dtype, tuple(shape[:-1]) + (1,))
    raise AssertionError(kind)


def _matmul_integer_case(case, seed=1):
    a_shape, b_shape, at, bt, akind, bkind, b_const = case
    rng = np.random.default_rng(seed)
    a, b = _rand(rng, at, a_shape), _rand(rng, bt, b_shape)
    a_zp, b_zp = _zp(rng, akind, at, a_shape, True), _zp(rng, bkind, bt, b_shape, False)
    feeds = {"a": a} if b_const else {"a": a, "b": b}
    inits = {"b": b} if b_const else {}
    names = ["a", "b", "", ""]
    if a_zp is not None:
        inits["a_zp"], names[2] = a_zp, "a_zp"
    if b_zp is not None:
        inits["b_zp"], names[3] = b_zp, "b_zp"
    while not names[-1]:
        names.pop()
    model = _model([helper.make_node("MatMulInteger", names, ["y"])], feeds, {"y": TensorProto.INT32}, inits)
    a_zp_b = 0 if a_zp is None else (a_zp[..., None] if a_zp.ndim == 1 and a.ndim == 2 and a_zp.size > 1 else a_zp)
    b_ref = b if b.ndim > 1 else b[:, None]
    want = _np_matmul_integer(a if a.ndim > 1 else a[None], b_ref, a_zp_b, 0 if b_zp is None else b_zp)
    if a.ndim == 1:
        want = want[..., 0, :]
    if b.ndim == 1:
        want = want[..., 0]
    return model, feeds, want


@pytest.mark.parametrize("case", MATMUL_CASES, ids=lambda c: f"{c[0]}x{c[1]}-{c[2].__name__}-{c[3].__name__}-"
                         f"{c[4]}-{c[5]}-{'const' if c[6] else 'input'}")
def test_matmul_integer_is_bit_exact(case, tmp_path):
    model, feeds, want = _matmul_integer_case(case)
    try:
        ort_out = _ort(model, feeds)[0]
    except Exception:  # noqa: BLE001  (ORT has no kernel for some type / zero-point combinations)
        ort_out = None
    if ort_out is not None:
        np.testing.assert_array_equal(ort_out, want)  # the NumPy reference is ORT's semantics
    path = _convert(model, tmp_path)
    for where, _, got in _engine_runs(path, feeds):
        _assert_same(got, [want], where)


@pytest.mark.parametrize("akind", ["row", "batch_row"])
def test_matmul_integer_per_row_a_zero_point_matches_numpy(akind, tmp_path):
    # ONNX allows a per-row a_zero_point; ORT's CPU kernel takes only a scalar, so NumPy is the reference here.
    a_shape = (6, 9) if akind == "row" else (2, 6, 9)
    model, feeds, want = _matmul_integer_case((a_shape, (9, 5), U8, U8, akind, "column", True), seed=3)
    path = _convert(model, tmp_path)
    for where, _, got in _engine_runs(path, feeds):
        _assert_same(got, [want], where)


def test_matmul_integer_wraps_like_int32(tmp_path):
    # K = 40000 products of 255 * 255 (u8 B, zero points 0) exceed 2^31: ORT and NumPy wrap modulo 2^32.
    a = np.full((2, 40000), 255, U8)
    b = np.full((40000, 3), 255, U8)
    model = _model([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], {"a": a}, {"y": TensorProto.INT32},
                   {"b": b})
    want = _ort(model, {"a": a})[0]
    np.testing.assert_array_equal(want, _np_matmul_integer(a, b, 0, 0))
    path = _convert(model, tmp_path)
    for where, _, got in _engine_runs(path, {"a": a}):
        _assert_same(got, [want], where)


def test_matmul_integer_rejects_bad_zero_points(tmp_path):
    a = np.zeros((4, 6), U8)
    model = _model([helper.make_node("MatMulInteger", ["a", "b", "", "bz"], ["y"])], {"a": a},
                   {"y": TensorProto.INT32}, {"b": np.zeros((6, 5), U8), "bz": np.zeros(3, U8)})
    with pytest.raises((engine.EngineError, export.ModelFormatError)) as err:
        path = _convert(model, tmp_path)
        engine.Session(path).run(None, {"a": a})
    assert "b_zero_point" in str(err.value)


# ---- ConvInteger ---------------------------------------------------------------------------------------------

def _np_conv_integer(x, w, x_zp, w_zp, strides, pads, dilations, group) -> np.ndarray:
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xs = x.astype(np.int64) - int(x_zp)
    xs = np.pad(xs, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    ws = w.astype(np.int64) - np.asarray(w_zp, np.int64).reshape(-1, 1, 1, 1)
    oh = (h + pads[0] + pads[2] - (kh - 1) * dilations[0] - 1) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - (kw - 1) * dilations[1] - 1) // strides[1] + 1
    y = np.zeros((n, m, oh, ow), np.int64)
    mg = m // group
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, g * cg:(g + 1) * cg, i * dilations[0]:i * dilations[0] + strides[0] * (oh - 1) + 1:
                           strides[0], j * dilations[1]:j * dilations[1] + strides[1] * (ow - 1) + 1:strides[1]]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, ws[g * mg:(g + 1) * mg, :, i, j])
    return (y & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


CONV_CASES = [
    # (x shape, w shape, w dtype, w_zp kind, attrs, w constant)
    ((1, 3, 8, 8), (4, 3, 3, 3), U8, "scalar", {"pads": [1, 1, 1, 1]}, True),
    ((2, 4, 9, 7), (6, 2, 3, 2), U8, "scalar", {"group": 2, "strides": [2, 1], "pads": [1, 0, 2, 1]}, True),
    ((1, 3, 10, 10), (5, 3, 3, 3), U8, "scalar", {"dilations": [2, 2], "auto_pad": "SAME_UPPER"}, False),
    ((1, 8, 6, 6), (8, 1, 3, 3), U8, "channel", {"group": 8, "pads": [1, 1, 1, 1]}, True),
    ((1, 16, 5, 5), (7, 16, 1, 1), I8, "none", {}, True),
    ((1, 2, 3, 3), (1, 2, 2, 2), U8, "none", {"auto_pad": "VALID"}, False),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2].__name__}-{c[3]}-"
                         f"{'-'.join(c[4])}-{'const' if c[5] else 'input'}")
def test_conv_integer_is_bit_exact(case, tmp_path):
    x_shape, w_shape, wt, zkind, attrs, w_const = case
    rng = np.random.default_rng(5)
    x, w = _rand(rng, U8, x_shape), _rand(rng, wt, w_shape)
    x_zp = _rand(rng, U8, ())
    w_zp = None if zkind == "none" else _rand(rng, wt, () if zkind == "scalar" else (w_shape[0],))
    feeds = {"x": x} if w_const else {"x": x, "w": w}
    inits = {"x_zp": x_zp, **({"w": w} if w_const else {})}
    names = ["x", "w", "x_zp"] + (["w_zp"] if w_zp is not None else [])
    if w_zp is not None:
        inits["w_zp"] = w_zp
    model = _model([helper.make_node("ConvInteger", names, ["y"], **attrs)], feeds, {"y": TensorProto.INT32},
                   inits)
    # the reference: explicit pads (SAME_UPPER resolved as ONNX does)
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if attrs.get("auto_pad") == "SAME_UPPER":
        pads = []
        for d in range(2):
            eff = (w_shape[2 + d] - 1) * attrs.get("dilations", [1, 1])[d] + 1
            total = max(0, (x_shape[2 + d] - 1) + eff - x_shape[2 + d])
            pads.append((total // 2, total - total // 2))
        pads = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
    want = _np_conv_integer(x, w, x_zp, 0 if w_zp is None else w_zp, attrs.get("strides", [1, 1]), pads,
                            attrs.get("dilations", [1, 1]), attrs.get("group", 1))
    try:
        ort_out = _ort(model, feeds)[0]
    except Exception:  # noqa: BLE001  (ORT has no kernel for some type / zero-point combinations)
        ort_out = None
    if ort_out is not None:
        np.testing.assert_array_equal(ort_out, want)
    path = _convert(model, tmp_path)
    for where, _, got in _engine_runs(path, feeds):
        _assert_same(got, [want], where)


# ---- The fused DynamicQuantMatMul --------------------------------------------------------------------------

def _dynamic_matmul_model(x, w, w_scale, w_zp, bias, scale_first: bool = True) -> onnx.ModelProto:
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("Mul", ["xs", "ws"] if scale_first else ["ws", "xs"], ["s"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["accf", "s"], ["y" if bias is None else "yb"])]
    inits = {"w": w, "ws": w_scale, "wz": w_zp}
    if bias is not None:
        nodes.append(helper.make_node("Add", ["yb", "bias"], ["y"]))
        inits["bias"] = bias
    return _model(nodes, {"x": x}, {"y": TensorProto.FLOAT}, inits)


FUSED_CASES = [
    # (x shape, N, weight dtype, per channel, bias)
    ((4, 64), 128, I8, False, True),
    ((2, 16, 64), 70, I8, True, True),
    ((3, 33), 17, U8, False, False),  # uint8 weights with a zero point: the row-sum path
    ((3, 33), 17, U8, True, True),
    ((1, 7, 300), 40, I8, True, False),
    ((1, 128, 1024), 256, I8, False, True),  # a transformer's FFN projection: every tile, both threads busy
]


@pytest.mark.parametrize("case", FUSED_CASES, ids=lambda c: f"{c[0]}-N{c[1]}-{c[2].__name__}-"
                         f"{'pc' if c[3] else 'pt'}-{'bias' if c[4] else 'nobias'}")
def test_fused_dynamic_quant_matmul_matches_ort_unfused(case, tmp_path):
    x_shape, n, wt, per_channel, with_bias = case
    rng = np.random.default_rng(11)
    k = x_shape[-1]
    x = rng.standard_normal(x_shape).astype(F32)
    x[..., 0] = 2.5  # a positive and a negative extreme in the tensor
    w = _rand(rng, wt, (k, n))
    shape = (n,) if per_channel else ()
    w_scale = rng.uniform(0.001, 0.01, shape).astype(F32)
    w_zp = _rand(rng, wt, shape) if wt == U8 else np.zeros(shape, I8)
    bias = rng.standard_normal(n).astype(F32) if with_bias else None
    model = _dynamic_matmul_model(x, w, w_scale, w_zp, bias, scale_first=per_channel)
    want = _ort(model, {"x": x})[0]
    path = _convert(model, tmp_path, optimize=True)
    worst = 0.0
    for where, sess, got in _engine_runs(path, {"x": x}):
        ops = {row.op_type for row in sess.profile()}
        assert "DynamicQuantMatMul" in ops and "MatMulInteger" not in ops, (where, ops)
        assert got[0].shape == want.shape and got[0].dtype == want.dtype
        diff = float(np.max(np.abs(got[0] - want))) if want.size else 0.0
        worst = max(worst, diff)
        # the same fp32 operations as ORT's unfused graph: equal, or one rounding of the final Add apart
        np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-6, err_msg=where)
    REPORT[f"fused {case[0]} N={n} {wt.__name__} {'pc' if per_channel else 'pt'}"] = f"max |engine - ORT| {worst:g}"


def test_unfused_chain_runs_through_the_plain_ops(tmp_path):
    # the zero point of MatMulInteger is not the DynamicQuantizeLinear's: no fusion, the plain ops run
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 10)).astype(F32)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w", "", "wz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["accf", "xs"], ["y"])]
    model = _model(nodes, {"x": x}, {"y": TensorProto.FLOAT},
                   {"w": _rand(rng, I8, (10, 6)), "wz": np.zeros((), I8)})
    want = _ort(model, {"x": x})[0]
    path = _convert(model, tmp_path, optimize=True)
    for where, sess, got in _engine_runs(path, {"x": x}):
        assert "MatMulInteger" in {row.op_type for row in sess.profile()}, where
        np.testing.assert_array_equal(got[0], want, err_msg=where)


# ---- Real models ------------------------------------------------------------------------------------------

def _quantized_models(tmp: Path) -> dict[str, tuple[Path, dict[str, np.ndarray]]]:
    torch = pytest.importorskip("torch")
    from onnxruntime.quantization import quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    torch.manual_seed(0)

    class Mlp(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(64, 128), torch.nn.Linear(128, 10)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    layer = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
    enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    nn = torch.nn
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, groups=2), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5)).eval()
    rng = np.random.default_rng(0)
    models = {}
    for name, module, shape in (("mlp", Mlp().eval(), (8, 64)), ("transformer", enc, (2, 16, 64)),
                                ("cnn", cnn, (2, 3, 16, 16))):
        x = rng.standard_normal(shape).astype(F32)
        fp32 = tmp / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.from_numpy(x),), str(fp32), opset_version=17, dynamo=False,
                              input_names=["x"], output_names=["y"])
        # ORT's documented pre-processing: without it, weights torch shares through Identity stay float
        pre = tmp / f"{name}_pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        for per_channel in (False, True):
            q = tmp / f"{name}_dyn{'_pc' if per_channel else ''}.onnx"
            quantize_dynamic(str(pre), str(q), per_channel=per_channel)
            models[q.stem] = (q, {"x": x})
            if name == "mlp":  # as ORT's extended optimizations save it: com.microsoft DynamicQuantizeMatMul
                opts = ort.SessionOptions()
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
                opts.optimized_model_filepath = str(tmp / f"{q.stem}_ortopt.onnx")
                ort.InferenceSession(str(q), opts, providers=["CPUExecutionProvider"])
                models[f"{q.stem}_ortopt"] = (tmp / f"{q.stem}_ortopt.onnx", {"x": x})
    return models


@pytest.fixture(scope="module")
def quantized_models(tmp_path_factory):
    return _quantized_models(tmp_path_factory.mktemp("dyn_models"))


# quantized MatMuls per model: every Linear (the transformer: 4 per encoder layer; attention's activation
# products stay float); the CNN's two convolutions run as ConvInteger
LINEARS = {"mlp": 2, "transformer": 8, "cnn": 1}


@pytest.mark.parametrize("name", ["mlp_dyn", "mlp_dyn_pc", "transformer_dyn", "transformer_dyn_pc",
                                  "mlp_dyn_ortopt", "mlp_dyn_pc_ortopt", "cnn_dyn", "cnn_dyn_pc"])
def test_quantize_dynamic_models_match_ort(name, quantized_models, tmp_path):
    path, feeds = quantized_models[name]
    model = onnx.load(str(path))
    counts = {n.op_type for n in model.graph.node}
    matmuls = ("DynamicQuantizeMatMul",) if name.endswith("ortopt") else ("DynamicQuantizeLinear", "MatMulInteger")
    assert set(matmuls) <= counts, counts
    assert sum(n.op_type == matmuls[-1] for n in model.graph.node) == LINEARS[name.split("_")[0]]
    convs = sum(n.op_type == "ConvInteger" for n in model.graph.node)
    assert convs == (2 if name.startswith("cnn") else 0)
    want = _ort(model, feeds)[0]  # the quantized file as written (ORT's graph optimizations off)
    want_opt = _ort(model, feeds, optimize=True)[0]  # ORT as users run it (its own MatMulIntegerToFloat fusion)
    slm = _convert(model, tmp_path, optimize=True)
    worst = worst_opt = 0.0
    agree = 1.0
    for where, sess, got in _engine_runs(slm, feeds):
        ops = {row.op_type for row in sess.profile()}
        assert "DynamicQuantMatMul" in ops and "MatMulInteger" not in ops, (where, ops)
        assert sum(row.op_type == "ConvInteger" for row in sess.profile()) == convs, where
        fused = sum(row.op_type == "DynamicQuantMatMul" for row in sess.profile())
        assert fused == sum(n.op_type == matmuls[-1] for n in model.graph.node), (where, fused)
        y = got[0]
        assert y.shape == want.shape
        worst = max(worst, float(np.max(np.abs(y - want))))
        worst_opt = max(worst_opt, float(np.max(np.abs(y - want_opt))))
        agree = min(agree, float(np.mean(y.argmax(-1) == want.argmax(-1))))
        # a one-ulp difference of an activation scale can move a code by one step; the outputs stay close
        np.testing.assert_allclose(y, want, rtol=0, atol=1e-3 * float(np.max(np.abs(want))), err_msg=where)
    assert agree >= 0.9
    REPORT[f"model {name}"] = (f"max |engine - ORT| {worst:g} (ORT optimized: {worst_opt:g}), "
                               f"|y|max {float(np.max(np.abs(want))):.3g}, argmax agreement {agree:.3f}")


def test_one_dynamic_quantize_linear_feeding_two_matmuls_fuses_both(tmp_path):
    # Q/K/V-style: one DynamicQuantizeLinear, two weights; a third MatMulInteger whose Cast output has a second
    # reader (a graph output) must stay unfused and still give ORT's result
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 12)).astype(F32)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"])]
    inits: dict[str, np.ndarray] = {}
    for i in range(3):
        nodes += [helper.make_node("Mul", ["xs", f"ws{i}"], [f"s{i}"]),
                  helper.make_node("MatMulInteger", ["xq", f"w{i}", "xz", f"wz{i}"], [f"acc{i}"]),
                  helper.make_node("Cast", [f"acc{i}"], [f"f{i}"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [f"f{i}", f"s{i}"], [f"y{i}"])]
        inits.update({f"w{i}": _rand(rng, I8, (12, 7)), f"ws{i}": np.float32(0.01 * (i + 1)), f"wz{i}": np.int8(0)})
    model = _model(nodes, {"x": x}, {"y0": TensorProto.FLOAT, "y1": TensorProto.FLOAT, "y2": TensorProto.FLOAT,
                                     "f2": TensorProto.FLOAT}, inits)
    want = _ort(model, {"x": x})
    path = _convert(model, tmp_path, optimize=True)
    for where, sess, got in _engine_runs(path, {"x": x}):
        ops = [row.op_type for row in sess.profile()]
        assert ops.count("DynamicQuantMatMul") == 2 and ops.count("MatMulInteger") == 1, (where, ops)
        _assert_same(got, want, where)


@pytest.mark.parametrize("with_dql", [True, False])
def test_matmul_integer_to_float_is_lowered(with_dql, tmp_path):
    # com.microsoft MatMulIntegerToFloat (what ORT's optimizer makes of the chain) becomes the ONNX chain; after a
    # DynamicQuantizeLinear it fuses, on a uint8 graph input it runs as the plain ops
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 20)).astype(F32)
    inits = {"w": _rand(rng, I8, (20, 9)), "ws": rng.uniform(0.001, 0.01, 9).astype(F32), "wz": np.zeros(9, I8),
             "bias": rng.standard_normal(9).astype(F32)}
    nodes = []
    if with_dql:
        nodes.append(helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]))
        feeds = {"x": x}
    else:
        feeds = {"xq": _rand(rng, U8, (4, 20))}
        inits.update({"xs": np.float32(0.02), "xz": np.uint8(131)})
    nodes.append(helper.make_node("MatMulIntegerToFloat", ["xq", "w", "xs", "ws", "xz", "wz", "bias"], ["y"],
                                  domain="com.microsoft"))
    model = _model(nodes, feeds, {"y": TensorProto.FLOAT}, inits, out_shape=[4, 9])
    want = _ort(model, feeds)[0]
    path = _convert(model, tmp_path, optimize=True)
    for where, sess, got in _engine_runs(path, feeds):
        ops = {row.op_type for row in sess.profile()}
        assert ("DynamicQuantMatMul" in ops) == with_dql and ("MatMulInteger" in ops) != with_dql, (where, ops)
        np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-6, err_msg=where)
