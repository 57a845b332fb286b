"""Int8 conversion: QDQ and QOperator models -> the engine's integer ops (engine/QUANTIZED.md).

Structure (op counts, what stays float and why, int8/int32 storage), numerics (the folded graph, run by ONNX
Runtime's own integer kernels through ``tests.export.qdq_models.render``, against ONNX Runtime on the source
model) and every refusal of bad quantization parameters.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from export import ModelFormatError, convert_model, load_engine_file_summary
from export.convert import main
from export.converter import prepare_graph
from export.engine_file import KIND_CONST
from export.support import INT8_SUPPORT
from tests.export.qdq_models import (
    calibration,
    export_torchvision,
    quantize_ort,
    render,
    run,
)

F32, U8, I8, I32 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32
ENGINE_INT8_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QGemm", "QLinearMatMul", "QLinearAdd",
                   "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat", "QLinearLookup"}
FLOAT_COMPUTE = {"Conv", "Gemm", "MatMul", "Add", "Mul", "GlobalAveragePool", "AveragePool", "HardSigmoid",
                 "HardSwish", "Sigmoid", "ReduceMean", "Relu", "Clip"}
rng = np.random.default_rng(0)


class Matrix(dict):
    """The engine's support matrix as the int8 conversion needs it: float ops in float32/int64, the integer
    ops exactly as export.support.INT8_SUPPORT says (a QLinearConv on int8 input would be refused)."""

    def __contains__(self, op: object) -> bool:
        return True

    def __getitem__(self, op: str) -> list[str]:
        if op in ENGINE_INT8_OPS:
            return INT8_SUPPORT[op]
        return ["float32", "int64", *INT8_SUPPORT.get(op, [])]


MATRIX = Matrix()


def convert(model, tmp_path: Path, name: str = "m.slm", **kw):
    return convert_model(model, tmp_path / name, supported_ops=MATRIX, **kw)


def ops(report) -> dict[str, int]:
    return {k: v for k, v in report.ops_after.items() if v}


def floats(report) -> dict[str, str]:
    return {p.node: p.reason for p in report.precision if p.precision == "float"}


def assert_matches_ort(source, feeds: dict[str, np.ndarray], *, lsb: float | None = None, rtol: float = 1e-5,
                       optimize: bool = True):
    """The folded graph (ONNX Runtime's integer kernels) against ONNX Runtime on the source model: equal within
    one output step ``lsb`` (a quantized output), or ``rtol`` (a float output of QGemm). ``optimize=False``: the
    source as ONNX defines it, without ONNX Runtime's QDQ fusions."""
    ref = run(source if not isinstance(source, Path) else str(source), feeds, optimize=optimize)
    # op by op: ONNX Runtime's graph optimizations would re-fuse the float islands their own way
    got = run(render(prepare_graph(source).graph), feeds, optimize=False)
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        if lsb is not None:
            assert np.abs(g - r).max() <= lsb * 1.001 + 1e-12, np.abs(g - r).max() / lsb
        else:
            np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * float(np.abs(r).max()))


# ---- hand-built QDQ graphs ---------------------------------------------------------------------------
class Builder:
    """A small QDQ graph: constants, Q/DQ nodes and ops, then a checked ONNX model."""

    def __init__(self, opset: int = 17) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.opset = opset
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def c(self, value, dtype=None, name: str | None = None) -> str:
        arr = np.asarray(value, dtype=dtype)
        n = name or self.name("c")
        self.inits.append(numpy_helper.from_array(arr, n))
        return n

    def op(self, op_type: str, inputs: list[str], name: str | None = None, n_out: int = 1, domain: str = "",
           **attrs) -> str | list[str]:
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name or self.name(op_type),
                                           domain=domain or None, **attrs))
        return outs[0] if n_out == 1 else outs

    def q(self, x: str, scale: float, zp, axis: int | None = None, name: str | None = None) -> str:
        kw = {"axis": axis} if axis is not None else {}
        return self.op("QuantizeLinear", [x, self.c(np.float32(scale)), self.c(zp)], name=name, **kw)

    def dq(self, x: str, scale, zp, axis: int | None = None, name: str | None = None) -> str:
        kw = {"axis": axis} if axis is not None else {}
        return self.op("DequantizeLinear", [x, self.c(np.asarray(scale, np.float32)), self.c(zp)], name=name, **kw)

    def qdq(self, x: str, scale: float, zp) -> str:
        return self.dq(self.q(x, scale, zp), scale, zp)

    def weight(self, shape, scale, zp=None, dtype=np.int8, axis: int = 0) -> str:
        info = np.iinfo(dtype)
        codes = rng.integers(info.min, info.max + 1, size=shape).astype(dtype)
        scale = np.asarray(scale, np.float32)
        if zp is None:
            zp = np.zeros(scale.shape, dtype)
        return self.dq(self.c(codes), scale, np.asarray(zp, dtype), axis=axis if scale.ndim else None)

    def model(self, inputs: dict[str, list], outputs: dict[str, list], out_type: int = F32,
              contrib: bool = False) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "qdq",
                                  [helper.make_tensor_value_info(k, F32, v) for k, v in inputs.items()],
                                  [helper.make_tensor_value_info(k, out_type, v) for k, v in outputs.items()],
                                  initializer=self.inits)
        domains = [helper.make_opsetid("", self.opset)] + ([helper.make_opsetid("com.microsoft", 1)] if contrib else [])
        model = helper.make_model(graph, opset_imports=domains)
        model.ir_version = 10 if self.opset >= 21 else 9
        onnx.checker.check_model(model)
        return model

    def output(self, value: str, name: str = "y") -> None:
        self.nodes.append(helper.make_node("Identity", [value], [name], name=self.name("out")))


def _x(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


S_IN, Z_IN, U8_ZERO = 0.02, np.uint8(128), np.uint8(0)


def conv_model(act: str | None = "Relu", group: int = 1, bias: str = "int32", zp_out=U8_ZERO, out_q: bool = True,
               w_zp=None, w_dtype=np.int8, bias_scale_factor: float = 1.0) -> onnx.ModelProto:
    b = Builder()
    x = b.qdq("x", S_IN, Z_IN)
    cin, cout = 8, 8
    ws = (rng.uniform(0.002, 0.01, cout)).astype(np.float32)
    w = b.weight([cout, cin // group, 3, 3], ws, zp=w_zp, dtype=w_dtype)
    inputs = [x, w]
    if bias == "int32":
        grid = (np.float32(S_IN) * ws * np.float32(bias_scale_factor)).astype(np.float32)
        inputs.append(b.dq(b.c(rng.integers(-2000, 2000, cout).astype(np.int32)), grid, np.zeros(cout, np.int32),
                           axis=0))
    elif bias == "float":
        inputs.append(b.c(rng.uniform(-0.5, 0.5, cout).astype(np.float32), name="bias_f"))
    y = b.op("Conv", inputs, name="conv", pads=[1, 1, 1, 1], group=group)
    if act == "Relu":
        y = b.op("Relu", [y], name="act")
    elif act == "Clip":
        y = b.op("Clip", [y, b.c(np.float32(0)), b.c(np.float32(1.5))], name="act")
    if out_q:
        y = b.qdq(y, 0.015, zp_out)
    b.output(y)
    return b.model({"x": [1, cin, 8, 8]}, {"y": [1, cout, 8, 8]})


@pytest.mark.parametrize("act", [None, "Relu", "Clip"])
@pytest.mark.parametrize("group", [1, 2, 8])
def test_conv_relu_clip_fold_into_qlinearconv(tmp_path, act, group):
    model = conv_model(act, group)
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "QLinearConv": 1, "DequantizeLinear": 1}
    summary = load_engine_file_summary(report.output)
    node = next(n for n in summary.nodes if n.op_type == "QLinearConv")
    assert node.name == "conv" and node.attrs.get("group", 1) == group
    assert node.attrs.get("activation") == act
    if act == "Clip":
        assert node.attrs["activation_params"] == [0.0, 1.5]
    dtypes = [summary.tensors[i].dtype for i in node.inputs]
    assert dtypes == [U8, F32, U8, I8, F32, I8, F32, U8, I32]
    assert_matches_ort(model, {"x": _x(1, 8, 8, 8)}, lsb=0.015)


def test_activation_already_fused_into_the_float_conv_folds_too(tmp_path):
    # a pipeline that runs the float activation fusion first leaves Conv(activation=Clip) -> Q
    model = conv_model("Clip")
    report = convert(model, tmp_path, passes=["identity_elimination", "activation_fusion", "qdq_folding"])
    assert ops(report) == {"QuantizeLinear": 1, "QLinearConv": 1, "DequantizeLinear": 1}
    node = next(n for n in load_engine_file_summary(report.output).nodes if n.op_type == "QLinearConv")
    assert node.attrs["activation"] == "Clip" and node.attrs["activation_params"] == [0.0, 1.5]


def test_float_bias_is_quantized_like_onnxruntime_does(tmp_path):
    model = conv_model("Relu", bias="float")
    report = convert(model, tmp_path)
    assert ops(report)["QLinearConv"] == 1
    graph = prepare_graph(model).graph
    conv = next(n for n in graph.nodes if n.op_type == "QLinearConv")
    bias = graph.const(conv.inputs[8])
    ws = graph.const(conv.inputs[4])
    src = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "bias_f"))
    assert bias.dtype == np.int32
    np.testing.assert_array_equal(bias, np.rint(src / (np.float32(S_IN) * ws)).astype(np.int32))
    assert_matches_ort(model, {"x": _x(1, 8, 8, 8)}, lsb=0.015)


def test_int8_output_zero_point_and_uint8_weights_with_zero_point_128(tmp_path):
    # s8 activations become u8 (zp + 128); u8 weights with zp 128 become s8 with zp 0
    b = Builder()
    x = b.dq(b.q("x", S_IN, np.int8(3)), S_IN, np.int8(3))
    w = b.weight([4, 8, 1, 1], np.full(4, 0.01, np.float32), zp=np.full(4, 128, np.uint8), dtype=np.uint8)
    y = b.qdq(b.op("Conv", [x, w], name="conv"), 0.05, np.int8(-5))
    b.output(y)
    model = b.model({"x": [1, 8, 4, 4]}, {"y": [1, 4, 4, 4]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "QLinearConv": 1, "DequantizeLinear": 1}
    assert "int8 activations mapped to uint8" in report.quantization
    graph = prepare_graph(model).graph
    conv = next(n for n in graph.nodes if n.op_type == "QLinearConv")
    assert graph.const(conv.inputs[2]) == 131 and graph.const(conv.inputs[7]) == 123
    w_src = numpy_helper.to_array(next(i for i in model.graph.initializer if i.data_type == U8 and len(i.dims) == 4))
    np.testing.assert_array_equal(graph.const(conv.inputs[3]), (w_src.astype(np.int16) - 128).astype(np.int8))
    assert not graph.const(conv.inputs[5]).any()
    assert_matches_ort(model, {"x": _x(1, 8, 4, 4)}, lsb=0.05)


def _gemm_model(out_q: bool, matmul: bool = False, relu: bool = False) -> onnx.ModelProto:
    b = Builder()
    x = b.qdq("x", 0.03, np.uint8(120))
    if matmul:
        w = b.weight([16, 6], np.full(6, 0.01, np.float32), axis=1)
        y = b.op("MatMul", [x, w], name="fc")
    else:
        w = b.weight([6, 16], np.full(6, 0.01, np.float32), axis=0)
        grid = np.full(6, np.float32(0.03) * np.float32(0.01), np.float32)
        bias = b.dq(b.c(rng.integers(-500, 500, 6).astype(np.int32)), grid, np.zeros(6, np.int32), axis=0)
        y = b.op("Gemm", [x, w, bias], name="fc", transB=1)
    if relu:
        y = b.op("Relu", [y])
    if out_q:
        y = b.qdq(y, 0.02, np.uint8(100))
    b.output(y)
    return b.model({"x": [3, 16]}, {"y": [3, 6]})


@pytest.mark.parametrize("matmul", [False, True])
@pytest.mark.parametrize("out_q", [False, True])
def test_gemm_and_matmul_with_int8_weights(tmp_path, matmul, out_q):
    model = _gemm_model(out_q, matmul)
    report = convert(model, tmp_path)
    op = "QLinearMatMul" if matmul and out_q else "QGemm"
    expected = {"QuantizeLinear": 1, op: 1} | ({"DequantizeLinear": 1} if out_q else {})
    assert ops(report) == expected
    node = next(n for n in load_engine_file_summary(report.output).nodes if n.op_type == op)
    if op == "QGemm":
        assert node.attrs == {"transA": 0, "transB": 0 if matmul else 1, "alpha": 1.0}
        # without y_scale the output is float: no y_scale / y_zp inputs
        assert len(node.inputs) == (9 if out_q else 6 if matmul else 7)
    feeds = {"x": _x(3, 16)}
    assert_matches_ort(model, feeds, **({"lsb": 0.02} if out_q else {}))


def test_gemm_relu_before_the_quantizer_is_fused(tmp_path):
    model = _gemm_model(True, relu=True)
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "QGemm": 1, "DequantizeLinear": 1}
    node = next(n for n in load_engine_file_summary(report.output).nodes if n.op_type == "QGemm")
    assert node.attrs["activation"] == "Relu"
    assert_matches_ort(model, {"x": _x(3, 16)}, lsb=0.02)


@pytest.mark.parametrize("op", ["Add", "Mul"])
def test_add_and_mul(tmp_path, op):
    b = Builder()
    a = b.qdq("a", 0.02, np.uint8(128))
    c = b.qdq("b", 0.03, np.uint8(110))
    y = b.op(op, [a, c], name="binary")
    if op == "Add":
        y = b.op("Relu", [y])
    b.output(b.qdq(y, 0.04, np.uint8(20)))
    model = b.model({"a": [1, 4, 5, 5], "b": [1, 4, 1, 5]}, {"y": [1, 4, 5, 5]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 2, f"QLinear{op}": 1, "DequantizeLinear": 1}
    node = next(n for n in load_engine_file_summary(report.output).nodes if n.op_type == f"QLinear{op}")
    assert node.attrs.get("activation") == ("Relu" if op == "Add" else None)
    assert_matches_ort(model, {"a": _x(1, 4, 5, 5), "b": _x(1, 4, 1, 5)}, lsb=0.04)


def test_pools_and_reduce_mean(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    g = b.qdq(b.op("GlobalAveragePool", [x], name="gap"), 0.01, np.uint8(128))
    a = b.qdq(b.op("AveragePool", [x], name="avg", kernel_shape=[2, 2], strides=[2, 2]), 0.015, np.uint8(128))
    r = b.qdq(b.op("ReduceMean", [x], name="mean", axes=[2, 3], keepdims=0), 0.012, np.uint8(128))
    b.output(g, "g")
    b.output(a, "a")
    b.output(r, "r")
    model = b.model({"x": [2, 4, 6, 6]}, {"g": [2, 4, 1, 1], "a": [2, 4, 3, 3], "r": [2, 4]})
    report = convert(model, tmp_path)
    # the engine has no int8 windowed average pool: AveragePool stays float between its Q/DQ, and says why
    assert ops(report) == {"QuantizeLinear": 2, "QLinearGlobalAveragePool": 2, "AveragePool": 1,
                           "Squeeze": 1, "DequantizeLinear": 4}
    assert floats(report)["avg"] == "no integer kernel for AveragePool"
    node = next(n for n in load_engine_file_summary(report.output).nodes if n.op_type == "AveragePool")
    assert node.attrs["kernel_shape"] == [2, 2] and node.attrs["strides"] == [2, 2]
    assert_matches_ort(model, {"x": _x(2, 4, 6, 6)}, lsb=0.015)


def test_concat_of_one_grid_runs_on_uint8_and_of_several_requantizes(tmp_path):
    b = Builder()
    a = b.qdq("a", 0.02, np.uint8(128))
    c = b.qdq("b", 0.02, np.uint8(128))
    d = b.qdq("c", 0.05, np.uint8(10))
    same = b.qdq(b.op("Concat", [a, c], name="same", axis=1), 0.02, np.uint8(128))
    mixed = b.qdq(b.op("Concat", [a, d], name="mixed", axis=1), 0.04, np.uint8(50))
    b.output(same, "s")
    b.output(mixed, "m")
    model = b.model({"a": [1, 2, 3, 3], "b": [1, 2, 3, 3], "c": [1, 2, 3, 3]}, {"s": [1, 4, 3, 3], "m": [1, 4, 3, 3]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 3, "Concat": 1, "QLinearConcat": 1, "DequantizeLinear": 2}
    feeds = {k: _x(1, 2, 3, 3) for k in "abc"}
    assert_matches_ort(model, feeds, lsb=0.04)


def test_layout_chain_runs_on_uint8_codes(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    p = b.qdq(b.op("MaxPool", [x], name="pool", kernel_shape=[2, 2], strides=[2, 2]), 0.02, np.uint8(128))
    t = b.op("Transpose", [p], name="t", perm=[0, 2, 3, 1])
    r = b.op("Reshape", [t, b.c(np.array([1, -1], np.int64))], name="r")
    s = b.op("Slice", [r, b.c(np.array([0], np.int64)), b.c(np.array([20], np.int64)), b.c(np.array([1], np.int64))],
             name="s")
    pad = b.op("Pad", [s, b.c(np.array([0, 1, 0, 1], np.int64))], name="pad")
    u = b.op("Unsqueeze", [pad, b.c(np.array([0], np.int64))], name="u")
    b.output(b.qdq(u, 0.02, np.uint8(128)))
    model = b.model({"x": [1, 4, 6, 6]}, {"y": [1, 1, 22]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "MaxPool": 1, "Transpose": 1, "Reshape": 1, "Slice": 1, "Pad": 1,
                           "Unsqueeze": 1, "DequantizeLinear": 1}
    assert all(p.precision in ("int8", "convert") for p in report.precision)
    summary = load_engine_file_summary(report.output)
    pad_node = next(n for n in summary.nodes if n.op_type == "Pad")
    assert summary.tensors[pad_node.inputs[0]].dtype == U8
    assert_matches_ort(model, {"x": _x(1, 4, 6, 6)}, lsb=0.02)


def test_more_layout_ops_run_on_uint8_codes(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    d2s = b.op("DepthToSpace", [x], name="d2s", blocksize=2)
    s2d = b.op("SpaceToDepth", [d2s], name="s2d", blocksize=2)
    up = b.op("Resize", [s2d, "", b.c(np.array([1, 1, 2, 2], np.float32))], name="up", mode="nearest")
    first, second = b.op("Split", [up, b.c(np.array([1, 3], np.int64))], name="split", n_out=2, axis=1)
    g = b.op("Gather", [first, b.c(np.array([0, 2], np.int64))], name="gather", axis=2)
    sq = b.op("Flatten", [b.op("Squeeze", [g, b.c(np.array([1], np.int64))], name="squeeze")], name="flat")
    b.output(b.qdq(sq, 0.02, np.uint8(128)), "a")
    b.output(b.qdq(second, 0.02, np.uint8(128)), "b")
    model = b.model({"x": [1, 4, 4, 4]}, {"a": [1, 16], "b": [1, 3, 8, 8]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "DepthToSpace": 1, "SpaceToDepth": 1, "Resize": 1, "Split": 1,
                           "Gather": 1, "Squeeze": 1, "Flatten": 1, "DequantizeLinear": 2}
    assert all(p.precision in ("int8", "convert") for p in report.precision)
    assert_matches_ort(model, {"x": _x(1, 4, 4, 4)}, lsb=0.02)


def test_qoperator_pool_sigmoid_leaky_relu_and_matmul(tmp_path):
    b = Builder()
    s = {k: b.c(np.float32(v)) for k, v in (("x", 0.03), ("p", 0.02), ("sg", 1 / 256), ("lr", 0.004), ("y", 0.05))}
    z = {k: b.c(np.uint8(v)) for k, v in (("x", 128), ("p", 120), ("sg", 0), ("lr", 5), ("y", 100))}
    xq = b.op("QuantizeLinear", ["x", s["x"], z["x"]])
    pool = b.op("QLinearAveragePool", [xq, s["x"], z["x"], s["p"], z["p"]], name="pool", domain="com.microsoft",
                kernel_shape=[2, 2], strides=[2, 2])
    sig = b.op("QLinearSigmoid", [pool, s["p"], z["p"], s["sg"], z["sg"]], name="sig", domain="com.microsoft")
    leaky = b.op("QLinearLeakyRelu", [sig, s["sg"], z["sg"], s["lr"], z["lr"]], name="leaky",
                 domain="com.microsoft", alpha=0.1)
    flat = b.op("Reshape", [leaky, b.c(np.array([1, 16], np.int64))])
    w = b.c(rng.integers(-127, 128, (16, 5)).astype(np.int8))
    mm = b.op("QLinearMatMul", [flat, s["lr"], z["lr"], w, b.c(np.full(5, 0.01, np.float32)),
                                b.c(np.zeros(5, np.int8)), s["y"], z["y"]], name="mm")
    b.output(b.op("DequantizeLinear", [mm, s["y"], z["y"]]))
    model = b.model({"x": [1, 4, 4, 4]}, {"y": [1, 5]}, contrib=True)
    report = convert(model, tmp_path)
    assert "4 QOperator nodes lowered" in report.quantization
    assert report.ops_before["QLinearSigmoid"] == 1
    # sigmoid then leaky relu: one table
    assert ops(report) == {"QuantizeLinear": 2, "AveragePool": 1, "QLinearLookup": 1, "Reshape": 1,
                           "QLinearMatMul": 1, "DequantizeLinear": 2}
    assert_matches_ort(model, {"x": _x(1, 4, 4, 4)}, lsb=0.05)


def test_maxpool_between_different_grids_is_requantized_by_a_table(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    b.output(b.qdq(b.op("MaxPool", [x], name="pool", kernel_shape=[2, 2]), 0.03, np.uint8(100)))
    model = b.model({"x": [1, 2, 5, 5]}, {"y": [1, 2, 4, 4]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "MaxPool": 1, "QLinearLookup": 1, "DequantizeLinear": 1}
    assert_matches_ort(model, {"x": _x(1, 2, 5, 5)}, lsb=0.03)


def test_dq_q_pairs_cancel_or_requantize(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    same = b.qdq(x, 0.02, np.uint8(128))
    other = b.qdq(same, 0.05, np.uint8(7))
    b.output(other)
    model = b.model({"x": [3, 4]}, {"y": [3, 4]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "QLinearLookup": 1, "DequantizeLinear": 1}
    assert report.passes[[p.name for p in report.passes].index("qdq_folding")].changes[
        "cancelled DequantizeLinear->QuantizeLinear"] == 1
    assert_matches_ort(model, {"x": _x(3, 4) * 3}, lsb=0.05)


TABLE_CASES = {
    "HardSwish": lambda b, x: b.op("HardSwish", [x]),
    "HardSigmoid": lambda b, x: b.op("HardSigmoid", [x], alpha=0.25, beta=0.4),
    "Sigmoid": lambda b, x: b.op("Sigmoid", [x]),
    "Tanh": lambda b, x: b.op("Tanh", [x]),
    "LeakyRelu": lambda b, x: b.op("LeakyRelu", [x], alpha=0.1),
    "Relu": lambda b, x: b.op("Relu", [x]),
    "Clip": lambda b, x: b.op("Clip", [x, b.c(np.float32(-1)), b.c(np.float32(2))]),
    "Gelu": lambda b, x: b.op("Mul", [b.op("Mul", [x, b.op("Add", [b.op("Erf", [b.op(
        "Div", [x, b.c(np.float32(np.sqrt(2)))])]), b.c(np.float32(1))])]), b.c(np.float32(0.5))]),
    "SiLU": lambda b, x: b.op("Mul", [x, b.op("Sigmoid", [x])]),
    "x/6+3": lambda b, x: b.op("Add", [b.op("Div", [x, b.c(np.float32(6))]), b.c(np.float32(3))]),
    "Elu": lambda b, x: b.op("Elu", [x]),
}


@pytest.mark.parametrize("case", sorted(TABLE_CASES))
def test_table_driven_activations_become_one_lookup(tmp_path, case):
    b = Builder()
    x = b.dq(b.q("x", 0.05, np.uint8(128)), 0.05, np.uint8(128))
    b.output(b.qdq(TABLE_CASES[case](b, x), 0.03, np.uint8(90)))
    model = b.model({"x": [1, 256]}, {"y": [1, 256]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "QLinearLookup": 1, "DequantizeLinear": 1}
    table = next(p for p in report.precision if p.op_type == "QLinearLookup")
    assert table.precision == "int8"
    # every one of the 256 codes: ONNX Runtime computes DQ -> f -> Q in float32, as the table does
    codes = np.arange(256, dtype=np.float32)[None, :]
    feeds = {"x": (codes - 128) * np.float32(0.05)}
    ref = run(model, feeds, optimize=False)[0]
    got = run(render(prepare_graph(model).graph), feeds)[0]
    steps = np.rint(np.abs(got - ref) / 0.03)
    assert steps.max() <= 1 and np.mean(steps == 0) >= 0.99, (steps.max(), np.mean(steps == 0))


def test_hardswish_as_onnxruntime_quantizes_it_is_one_table(tmp_path):
    # ORT: HardSigmoid -> Q -> DQ -> Mul(x, .) -> Q: a table of x, then a product of x and table[x]
    b = Builder()
    x = b.qdq("x", 0.05, np.uint8(128))
    hs = b.qdq(b.op("HardSigmoid", [x], alpha=1 / 6, beta=0.5), 1 / 255, np.uint8(0))
    b.output(b.qdq(b.op("Mul", [x, hs]), 0.03, np.uint8(20)))
    model = b.model({"x": [1, 256]}, {"y": [1, 256]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "QLinearLookup": 1, "DequantizeLinear": 1}
    codes = np.arange(256, dtype=np.float32)[None, :]
    assert_matches_ort(model, {"x": (codes - 128) * np.float32(0.05)}, lsb=0.03)


def test_what_stays_float_says_why(tmp_path, capsys, monkeypatch):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    soft = b.qdq(b.op("Softmax", [x], name="softmax", axis=1), 1 / 255, np.uint8(0))
    mixed = b.op("Concat", [soft, b.qdq("z", 0.5, np.uint8(3))], name="mixed", axis=1)
    b.output(b.op("Reshape", [mixed, b.c(np.array([-1], np.int64))], name="flat"))
    model = b.model({"x": [2, 5], "z": [2, 5]}, {"y": [20]})
    report = convert(model, tmp_path)
    why = floats(report)
    assert why["softmax"] == "no integer kernel for Softmax"
    assert why["mixed"] == "Q/DQ parameters differ across the Concat inputs"
    assert why["flat"] == "its input is not quantized"
    text = report.format()
    assert "float    Softmax                  softmax: no integer kernel for Softmax" in text
    assert "convert  QuantizeLinear" in text
    # the CLI's --report prints the same table (with the built engine's matrix: a stand-in here)
    src = tmp_path / "m.onnx"
    onnx.save(model, src)
    fake = types.ModuleType("engine")
    fake.supported_ops = lambda: {op: MATRIX[op] for op in ("QuantizeLinear", "DequantizeLinear", "Softmax", "Concat",
                                                            "Reshape", "QLinearConcat")}
    monkeypatch.setitem(sys.modules, "engine", fake)
    assert main([str(src), "-o", str(tmp_path / "cli.slm"), "--report"]) == 0
    assert "softmax: no integer kernel for Softmax" in capsys.readouterr().out


def test_bias_on_another_grid_stays_float(tmp_path):
    model = conv_model("Relu", bias_scale_factor=2.0)
    report = convert(model, tmp_path)
    assert ops(report)["Conv"] == 1 and "QLinearConv" not in ops(report)
    assert "bias scale of" in floats(report)["conv"] and "differs from x_scale * w_scale" in floats(report)["conv"]
    # the float Conv keeps its int8 weight behind a DequantizeLinear (the engine dequantizes it once at load)
    summary = load_engine_file_summary(report.output)
    conv = next(n for n in summary.nodes if n.op_type == "Conv")
    producers = {o: n for n in summary.nodes for o in n.outputs}
    weight = producers[conv.inputs[1]]
    assert weight.op_type == "DequantizeLinear" and summary.tensors[weight.inputs[0]].dtype == onnx.TensorProto.INT8
    assert_matches_ort(model, {"x": _x(1, 8, 8, 8)}, lsb=0.015)


def test_float_matmul_island_keeps_its_int8_weight(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.03, np.uint8(120))
    w = b.weight([16, 6], np.full(6, 0.01, np.float32), axis=1)
    b.output(b.op("Softmax", [b.op("MatMul", [x, w], name="mm")], axis=-1))  # batched, float output
    model = b.model({"x": [2, 3, 16]}, {"y": [2, 3, 6]})
    report = convert(model, tmp_path)
    assert ops(report) == {"QuantizeLinear": 1, "DequantizeLinear": 2, "MatMul": 1, "Softmax": 1}
    assert floats(report)["mm"].startswith("its output is not quantized")
    summary = load_engine_file_summary(report.output)
    assert any(t.kind == KIND_CONST and t.dtype == I8 and t.shape == [16, 6] for t in summary.tensors)
    assert_matches_ort(model, {"x": _x(2, 3, 16)})


def test_float_model_report_is_one_line(tmp_path):
    b = Builder()
    b.output(b.op("Relu", ["x"]))
    report = convert(b.model({"x": [2, 3]}, {"y": [2, 3]}), tmp_path)
    assert report.quantization.startswith("none")
    assert [ln for ln in report.format().splitlines() if ln.startswith("precision")] == [
        "precision: float 1 (the model is not quantized)"]


def test_no_optimize_writes_the_engine_qdq_ops(tmp_path):
    model = conv_model("Relu")
    report = convert(model, tmp_path, optimize=False)
    # the weight and bias DequantizeLinears of the float Conv stay (the engine evaluates them once at load)
    assert ops(report) == {"QuantizeLinear": 2, "DequantizeLinear": 4, "Conv": 1, "Relu": 1, "Identity": 1}
    assert floats(report)["conv"] == "foldable (the qdq_folding pass did not run)"


# ---- bad input -----------------------------------------------------------------------------------------
def _refused(model, tmp_path, *fragments: str) -> ModelFormatError:
    with pytest.raises(ModelFormatError) as err:
        convert(model, tmp_path)
    assert err.value.kind == "quantization", str(err.value)
    for f in fragments:
        assert f in str(err.value), str(err.value)
    assert not (tmp_path / "m.slm").exists()
    return err.value


@pytest.mark.parametrize("scale", [0.0, -0.5, np.nan, np.inf])
def test_bad_scale_is_refused_by_node_and_field(tmp_path, scale):
    b = Builder()
    b.output(b.dq(b.q("x", 0.1, np.uint8(0), name="quant"), 0.1, np.uint8(0)))
    model = b.model({"x": [2, 3]}, {"y": [2, 3]})
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.float32(scale), model.graph.initializer[0].name))
    _refused(model, tmp_path, "node 'quant' (QuantizeLinear)", "scale", "finite and > 0")


def test_scale_computed_at_run_time_is_refused(tmp_path):
    b = Builder()
    s = b.op("Abs", ["s"])
    b.nodes.append(helper.make_node("QuantizeLinear", ["x", s, b.c(np.uint8(0))], ["q"], name="quant"))
    b.output(b.dq("q", 0.1, np.uint8(0)))
    model = b.model({"x": [2, 3], "s": []}, {"y": [2, 3]})
    _refused(model, tmp_path, "node 'quant'", "computed at run time")


def test_nonzero_int32_zero_point_is_out_of_range(tmp_path):
    b = Builder()
    bias = b.op("DequantizeLinear", [b.c(np.arange(3, dtype=np.int32)), b.c(np.float32(0.1)), b.c(np.int32(5))],
                name="bias_dq")
    b.output(b.op("Add", ["x", bias]))
    _refused(b.model({"x": [2, 3]}, {"y": [2, 3]}), tmp_path, "node 'bias_dq'", "zero point", "is 5, out of range")


def test_per_axis_scale_of_the_wrong_length_is_refused(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    w = b.dq(b.c(rng.integers(-127, 127, (4, 2, 1, 1)).astype(np.int8)), np.full(3, 0.01, np.float32),
             np.zeros(3, np.int8), axis=0, name="w_dq")
    b.output(b.qdq(b.op("Conv", [x, w]), 0.1, np.uint8(0)))
    model = b.model({"x": [1, 2, 3, 3]}, {"y": [1, 4, 3, 3]})
    # onnx's own checks do not compare the lengths; shape inference may (then the error names the node too)
    with pytest.raises(ModelFormatError) as err:
        convert(model, tmp_path)
    assert "w_dq" in str(err.value) and "3" in str(err.value)


def test_nonzero_weight_zero_point_is_refused_unless_the_codes_fit_int8(tmp_path):
    # int8 weights with zero point 3: q - 3 reaches -131
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    codes = np.full((4, 2, 1, 1), -128, np.int8)
    w = b.dq(b.c(codes), np.float32(0.01), np.int8(3), name="w_dq")
    b.output(b.qdq(b.op("Conv", [x, w], name="conv"), 0.1, np.uint8(0)))
    _refused(b.model({"x": [1, 2, 3, 3]}, {"y": [1, 4, 3, 3]}), tmp_path, "node 'w_dq'", "zero point",
             "span [-131, -131], outside int8")
    # uint8 weights with zero point 100 (asymmetric): 255 - 100 > 127
    model = conv_model(None, w_zp=np.full(8, 100, np.uint8), w_dtype=np.uint8)
    _refused(model, tmp_path, "zero point", "outside int8")


@pytest.mark.slow
def test_onnxruntime_asymmetric_uint8_weights_are_refused(ort_models):
    path = quantize_ort(ort_models["mobilenet_v2"], ort_models.folder / "mbv2_u8w.onnx", per_channel=False,
                        weights="QUInt8")
    with pytest.raises(ModelFormatError) as err:
        convert_model(path, ort_models.folder / "u8w.slm", supported_ops=MATRIX)
    assert err.value.kind == "quantization" and "zero point" in str(err.value) and "outside int8" in str(err.value)


def test_accumulator_overflow_is_refused(tmp_path):
    b = Builder()
    x = b.qdq("x", 0.02, np.uint8(128))
    w = b.weight([2, 8], np.float32(0.01), axis=0)
    bias = b.dq(b.c(np.array([2**31 - 100, 5], np.int32)), np.float32(0.02) * np.float32(0.01), np.int32(0))
    b.output(b.qdq(b.op("Gemm", [x, w, bias], name="fc", transB=1), 0.1, np.uint8(0)))
    _refused(b.model({"x": [1, 8]}, {"y": [1, 2]}), tmp_path, "node 'fc' (Gemm)", "accumulator", "overflow int32")


def test_int16_quantization_is_refused(tmp_path):
    b = Builder(opset=21)
    b.output(b.dq(b.q("x", 0.001, np.int16(0), name="q16"), 0.001, np.int16(0)))
    _refused(b.model({"x": [2, 3]}, {"y": [2, 3]}), tmp_path, "node 'q16'", "int16", "8 bits")


def test_blocked_quantization_is_refused(tmp_path):
    b = Builder(opset=21)
    w = b.op("DequantizeLinear", [b.c(np.ones((4, 4), np.int8)), b.c(np.ones((4, 2), np.float32)),
                                  b.c(np.zeros((4, 2), np.int8))], name="blocked", axis=1, block_size=2)
    b.output(b.op("MatMul", ["x", w]))
    _refused(b.model({"x": [2, 4]}, {"y": [2, 4]}), tmp_path, "node 'blocked'", "block_size")


def test_int4_weights_at_opset_21_are_widened_to_int8(tmp_path):
    b = Builder(opset=21)
    x = b.qdq("x", 0.02, np.uint8(128))
    codes = rng.integers(-8, 8, (4, 8, 1, 1))
    w_init = helper.make_tensor("w4", TensorProto.INT4, [4, 8, 1, 1], codes.reshape(-1).tolist())
    b.inits.append(w_init)
    w = b.op("DequantizeLinear", ["w4", b.c(np.full(4, 0.05, np.float32))], axis=0)
    b.output(b.qdq(b.op("Conv", [x, w], name="conv"), 0.1, np.uint8(10)))
    model = b.model({"x": [1, 8, 3, 3]}, {"y": [1, 4, 3, 3]})
    report = convert(model, tmp_path)
    assert report.opset.startswith("21 -> 17") and "1 int4/uint4 weights widened to 8 bits" in report.quantization
    assert ops(report) == {"QuantizeLinear": 1, "QLinearConv": 1, "DequantizeLinear": 1}
    summary = load_engine_file_summary(report.output)
    conv = next(n for n in summary.nodes if n.op_type == "QLinearConv")
    np.testing.assert_array_equal(summary.constant(summary.tensors[conv.inputs[3]].name), codes.astype(np.int8))
    assert_matches_ort(model, {"x": _x(1, 8, 3, 3)}, lsb=0.1)


def test_int4_activations_are_refused(tmp_path):
    b = Builder(opset=21)
    b.inits.append(helper.make_tensor("z4", TensorProto.INT4, [], [0]))
    q = b.op("QuantizeLinear", ["x", b.c(np.float32(0.1)), "z4"], name="q4")
    b.output(b.op("DequantizeLinear", [q, b.c(np.float32(0.1)), "z4"]))
    _refused(b.model({"x": [2, 3]}, {"y": [2, 3]}), tmp_path, "node 'q4'", "int4", "8 bits")


def test_dynamic_quantization_contrib_ops_are_refused_before_any_pass(tmp_path):
    # ONNX's DynamicQuantizeLinear / MatMulInteger and ORT's DynamicQuantizeMatMul run
    # (tests/engine/test_dynamic_quant.py); the dynamically quantized LSTM and attention do not
    b = Builder()
    b.output(b.op("DynamicQuantizeLSTM", ["x", b.c(np.ones((1, 3, 8), np.int8)), b.c(np.ones((1, 2, 8), np.int8))],
                  domain="com.microsoft", name="dyn"))
    _refused(b.model({"x": [2, 3]}, {"y": [2, 2]}, contrib=True), tmp_path, "node 'dyn' (DynamicQuantizeLSTM)",
             "dynamic quantization", "quantize_static")


def test_int8_graph_output_is_refused(tmp_path):
    b = Builder()
    b.nodes.append(helper.make_node("QuantizeLinear", ["x", b.c(np.float32(0.1)), b.c(np.int8(0))], ["y"], name="q"))
    _refused(b.model({"x": [2, 3]}, {"y": [2, 3]}, out_type=I8), tmp_path, "graph output 'y'", "int8 activation")


def test_contrib_ops_outside_the_table_and_malformed_ones_are_refused(tmp_path):
    b = Builder()
    b.output(b.op("FusedConv", ["x", b.c(np.ones((2, 2, 1, 1), np.float32))], domain="com.microsoft", name="fc"))
    model = b.model({"x": [1, 2, 3, 3]}, {"y": [1, 2, 3, 3]}, contrib=True)
    with pytest.raises(ModelFormatError) as err:
        convert(model, tmp_path)
    assert err.value.kind == "domain" and "com.microsoft" in str(err.value) and "QLinearAdd" in str(err.value)
    b = Builder()
    b.output(b.op("QLinearAdd", ["x", b.c(np.float32(1))], domain="com.microsoft", name="qadd"))
    model = b.model({"x": [2]}, {"y": [2]}, contrib=True)
    with pytest.raises(ModelFormatError) as err:
        convert(model, tmp_path)
    assert err.value.kind == "arity" and "node 'qadd'" in str(err.value) and "7 to 8" in str(err.value)


# ---- ONNX Runtime's quantize_static on torchvision models (64 px, 2 calibration images) ---------------
class _Folder(dict):
    folder: Path


@pytest.fixture(scope="module")
def ort_models(tmp_path_factory) -> _Folder:
    folder = tmp_path_factory.mktemp("ort-models")
    models = _Folder((name, export_torchvision(name, folder)) for name in
                     ("mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x1_0"))
    models.folder = folder
    return models


MBV2_INT8 = {"QuantizeLinear": 1, "QLinearConv": 52, "QLinearAdd": 10, "QLinearGlobalAveragePool": 1, "Flatten": 1,
             "QGemm": 1, "DequantizeLinear": 1}


@pytest.mark.slow
@pytest.mark.parametrize("fmt,per_channel,act", [("QDQ", True, "QUInt8"), ("QDQ", False, "QInt8"),
                                                 ("QOperator", True, "QInt8"), ("QOperator", False, "QUInt8")])
def test_onnxruntime_mobilenet_v2(ort_models, fmt, per_channel, act):
    folder = ort_models.folder
    path = quantize_ort(ort_models["mobilenet_v2"], folder / f"mbv2.{fmt}.{per_channel}.{act}.onnx", fmt, per_channel,
                        act)
    report = convert_model(path, folder / f"mbv2.{fmt}.{per_channel}.{act}.slm", supported_ops=MATRIX)
    assert ops(report) == MBV2_INT8
    assert not floats(report)
    precisions = Counter(p.precision for p in report.precision)
    assert precisions == {"int8": 65, "convert": 2}
    # the only DequantizeLinear makes the float model output; the only QuantizeLinear reads the float input
    summary = load_engine_file_summary(report.output)
    dq = next(n for n in summary.nodes if n.op_type == "DequantizeLinear")
    assert summary.tensors[dq.outputs[0]].name == "output"
    x = calibration(batches=1, seed=5)[0]
    scale = float(numpy_helper.to_array(next(i for i in onnx.load(str(path)).graph.initializer
                                             if i.name == "output_scale")))
    assert_matches_ort(path, {"input": x}, lsb=scale)


@pytest.mark.slow
@pytest.mark.parametrize("per_channel,limit", [(False, 0.26), (True, 0.265)])
def test_int8_mobilenet_v2_file_holds_int8_weights_and_is_a_quarter_of_fp32(ort_models, per_channel, limit):
    # ORT's default is per tensor; per channel adds one float32 scale per output channel (+0.5% here)
    folder = ort_models.folder
    path = quantize_ort(ort_models["mobilenet_v2"], folder / f"mbv2.QDQ.{per_channel}.QUInt8.onnx",
                        per_channel=per_channel)
    int8 = convert_model(path, folder / "int8.slm", supported_ops=MATRIX)
    fp32 = convert_model(ort_models["mobilenet_v2"], folder / "fp32.slm", supported_ops=MATRIX)
    assert int8.file_size / fp32.file_size <= limit, int8.file_size / fp32.file_size
    summary = load_engine_file_summary(int8.output)
    by_index = summary.tensors
    convs = [n for n in summary.nodes if n.op_type == "QLinearConv"]
    assert len(convs) == 52
    for n in convs:
        w, b = by_index[n.inputs[3]], by_index[n.inputs[8]]
        assert (w.kind, w.dtype, w.storage_dtype) == (KIND_CONST, I8, I8)
        assert (b.kind, b.dtype, len(b.shape)) == (KIND_CONST, I32, 1) and b.shape[0] == w.shape[0]
    # no float weights: every float constant is a scale (at most one value per output channel)
    assert all(len(t.shape) <= 1 for t in summary.tensors if t.kind == KIND_CONST and t.dtype == F32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x1_0"])
@pytest.mark.parametrize("fmt,per_channel,act", [("QDQ", True, "QUInt8"), ("QOperator", False, "QInt8")])
def test_onnxruntime_mobilenet_v3_and_shufflenet(ort_models, name, fmt, per_channel, act):
    folder = ort_models.folder
    path = quantize_ort(ort_models[name], folder / f"{name}.{fmt}.{per_channel}.{act}.onnx", fmt, per_channel, act)
    report = convert_model(path, folder / f"{name}.{fmt}.slm", supported_ops=MATRIX)
    after = ops(report)
    assert not FLOAT_COMPUTE & set(after), after
    assert after["QuantizeLinear"] == 1 and after["DequantizeLinear"] == 1 and not floats(report)
    if name == "mobilenet_v3_small":
        # HardSwish (ORT: HardSigmoid, then Mul by x) is one table; the SE blocks' Mul stays a QLinearMul
        assert (after["QLinearConv"], after["QLinearLookup"], after["QLinearMul"]) == (52, 28, 9)
    else:
        assert (after["QLinearConv"], after["QLinearConcat"], after["QLinearGlobalAveragePool"]) == (56, 16, 1)
    x = calibration(batches=1, seed=5)[0]
    scale = float(numpy_helper.to_array(next(i for i in onnx.load(str(path)).graph.initializer
                                             if i.name == "output_scale")))
    assert_matches_ort(path, {"input": x}, lsb=scale)


@pytest.mark.slow
def test_onnxruntime_symmetric_uint8_weights_and_qdq_weights_in_float(ort_models):
    folder = ort_models.folder
    # uint8 weights with zero point 128 (symmetric) become int8; float weights behind Q -> DQ become int8 too
    for extra, tag in (({"WeightSymmetric": True}, "u8sym"), ({"AddQDQPairToWeight": True}, "qdqw")):
        path = quantize_ort(ort_models["mobilenet_v2"], folder / f"mbv2.{tag}.onnx", per_channel=False,
                            weights="QUInt8" if tag == "u8sym" else "QInt8", extra=extra)
        report = convert_model(path, folder / f"{tag}.slm", supported_ops=MATRIX)
        assert ops(report) == MBV2_INT8, tag
        summary = load_engine_file_summary(report.output)
        assert all(summary.tensors[n.inputs[3]].dtype == I8 for n in summary.nodes if n.op_type == "QLinearConv")
        x = calibration(batches=1, seed=5)[0]
        scale = float(numpy_helper.to_array(next(i for i in onnx.load(str(path)).graph.initializer
                                                 if i.name == "output_scale")))
        assert_matches_ort(path, {"input": x}, lsb=scale)


# ---- our own exporter ---------------------------------------------------------------------------------
def _ptq(model, x, config=None):
    from compression.quantization import QuantConfig, calibrate, quantize_model

    qmodel, _ = quantize_model(model, config or QuantConfig(), x)
    calibrate(qmodel, x.split(4), 2)
    return qmodel


@pytest.mark.slow
def test_our_exporter_on_a_zoo_model(tmp_path):
    import torch

    from export.qdq import export_qdq
    from lightweight_models import create_model
    from tests.export.qdq_models import randomize_bn

    torch.manual_seed(0)
    model = create_model("mobilenetv2", num_classes=10, in_chans=3, small_input=True, width_mult=0.5).eval()
    randomize_bn(model)
    x = torch.randn(8, 3, 32, 32)
    path = export_qdq(_ptq(model, x[:2]), x[:1], tmp_path / "ours.onnx").path
    report = convert(path, tmp_path)
    after = ops(report)
    # the last Conv feeds the (float) global pooling: its output is not quantized, it stays float
    assert after["QLinearConv"] == 51 and after["QLinearAdd"] == 10 and after["QGemm"] == 1
    assert after.get("Conv") == 1 and "Add" not in after and "Clip" not in after
    assert floats(report)[next(p.node for p in report.precision if p.op_type == "Conv")].startswith(
        "its output is not quantized")
    assert_matches_ort(path, {"input": x[:1].numpy()})  # the classifier's QGemm has a float output


@pytest.mark.slow
def test_our_exporter_with_int4_weights_at_opset_21(tmp_path):
    import torch
    from torch import nn

    from compression.quantization import LayerOverride, QuantConfig
    from export.qdq import export_qdq

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 1), nn.ReLU(),
                          nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4)).eval()
    x = torch.randn(8, 3, 8, 8)
    qmodel = _ptq(model, x, QuantConfig(overrides={"2": LayerOverride(weight_bits=4)}))
    report = export_qdq(qmodel, x[:1], tmp_path / "w4.onnx")
    assert report.opset == 21
    assert any(i.data_type == TensorProto.INT4 for i in onnx.load(report.path).graph.initializer)
    converted = convert(report.path, tmp_path)
    assert converted.opset.startswith("21 -> 17") and "int4/uint4 weights widened" in converted.quantization
    assert converted.ops_after["QLinearConv"] >= 2
    summary = load_engine_file_summary(converted.output)
    assert not any(t.dtype == TensorProto.INT4 for t in summary.tensors)
    assert_matches_ort(report.path, {"input": x[:1].numpy()})


# ---- the built engine, where it has the integer ops ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name,fmt,per_channel,act", [("mobilenet_v2", "QDQ", True, "QUInt8"),
                                                      ("mobilenet_v3_small", "QOperator", False, "QInt8")])
def test_the_built_engine_runs_the_converted_model_as_onnxruntime_does(ort_models, name, fmt, per_channel, act):
    engine = pytest.importorskip("engine")
    try:
        supported = engine.supported_ops()
    except AttributeError:
        pytest.skip("the engine module is not built")
    if not {"QLinearConv", "QLinearAdd", "QGemm", "QuantizeLinear", "DequantizeLinear"} <= set(supported):
        pytest.skip("the built engine has no integer ops yet")
    folder = ort_models.folder
    path = quantize_ort(ort_models[name], folder / f"{name}.{fmt}.{per_channel}.{act}.onnx", fmt, per_channel, act)
    report = convert_model(path, folder / f"{name}.engine.slm")  # the engine's own matrix; it must load the file
    x = calibration(batches=1, seed=7)[0]
    got = engine.Session(report.output).run(None, {"input": x})[0]
    ref = run(str(path), {"input": x})[0]
    scale = float(numpy_helper.to_array(next(i for i in onnx.load(str(path)).graph.initializer
                                             if i.name == "output_scale")))
    assert np.abs(got - ref).max() <= scale * 1.001
