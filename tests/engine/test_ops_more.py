"""The rarer ONNX ops (indexing, scans, selection, normalizations, elementwise extras) against ONNX Runtime
and NumPy, at every ISA and at threads 1 and 2; their constant-folding evaluators against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper

import engine
from export import const_eval
from tests.engine.onnx_cases import check_against_ort, graph_model, ort_run
from tests.engine.slm_builder import SlmBuilder

F, I64, I32, B = T.FLOAT, T.INT64, T.INT32, T.BOOL
rng = np.random.default_rng(7)


def r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def node(op: str, ins: list[str], outs: list[str] | None = None, **attrs: object) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs or ["y"], **attrs)


X = r(2, 3, 5, 6)
SCATTER_IDX = np.array([[1, 0, 2], [0, 2, 1]], np.int64)
# (id, nodes, feeds, outputs, initializers): all at opset 17
CASES = [
    # CumSum: exclusive x reverse, float and int, constant and fed axis, negative axis
    *[(f"cumsum_{dt}_ex{ex}_rev{rev}_ax{ax}", [node("CumSum", ["a", "ax"], exclusive=ex, reverse=rev)],
       {"a": (r(3, 4, 5) * 4).astype(dt)}, {"y": {"float32": F, "int64": I64, "int32": I32}[dt]},
       {"ax": np.array(ax, np.int64 if dt != "int32" else np.int32)})
      for dt in ["float32", "int64", "int32"] for ex in (0, 1) for rev in (0, 1) for ax in (0, 1, -1)],
    ("cumsum_axis_fed", [node("CumSum", ["a", "ax"])], {"a": r(4, 6), "ax": np.array(1, np.int32)}, {"y": F}, {}),
    ("cumsum_long", [node("CumSum", ["a", "ax"], reverse=1)], {"a": r(2, 3000)}, {"y": F}, {"ax": i64(1)}),
    # Trilu
    *[(f"trilu_up{up}_k{k}", [node("Trilu", ["a", "k"], upper=up)], {"a": r(2, 4, 6)}, {"y": F}, {"k": i64(k)})
      for up in (0, 1) for k in (-7, -2, 0, 1, 3, 9)],
    ("trilu_no_k_int64", [node("Trilu", ["a"], upper=0)], {"a": i64(*range(20)).reshape(4, 5)}, {"y": I64}, {}),
    ("trilu_bool", [node("Trilu", ["a"])], {"a": r(3, 3, 3) > 0}, {"y": B}, {}),
    # GatherElements
    ("gather_elements_ax1", [node("GatherElements", ["a", "i"], axis=1)], {"a": r(3, 4, 2)}, {"y": F},
     {"i": rng.integers(-4, 4, (3, 5, 2)).astype(np.int64)}),
    ("gather_elements_ax0_smaller", [node("GatherElements", ["a", "i"], axis=0)], {"a": r(4, 5)}, {"y": F},
     {"i": rng.integers(0, 4, (2, 3)).astype(np.int32)}),
    ("gather_elements_int64", [node("GatherElements", ["a", "i"], axis=-1)], {"a": i64(*range(12)).reshape(3, 4)},
     {"y": I64}, {"i": np.array([[3, 0], [1, 1], [-1, 2]], np.int64)}),
    # ScatterElements (opset 17: none, add, mul)
    *[(f"scatter_elements_{red}_ax{ax}", [node("ScatterElements", ["a", "i", "u"], axis=ax, reduction=red)],
       {"a": r(3, 3), "u": r(2, 3)}, {"y": F}, {"i": SCATTER_IDX if ax == 0 else SCATTER_IDX - 3})
      for red in ("none", "add", "mul") for ax in (0, 1)],
    ("scatter_elements_dup_add_int", [node("ScatterElements", ["a", "i", "u"], axis=1, reduction="add")],
     {"a": i64(1, 2, 3, 4, 5).reshape(1, 5), "u": i64(10, 20, 30).reshape(1, 3)}, {"y": I64},
     {"i": i64(1, 1, 3).reshape(1, 3)}),
    # ScatterND / GatherND
    ("scatternd_slices", [node("ScatterND", ["a", "i", "u"])], {"a": r(4, 4, 4), "u": r(2, 4, 4)}, {"y": F},
     {"i": np.array([[0], [2]], np.int64)}),
    ("scatternd_elements_add", [node("ScatterND", ["a", "i", "u"], reduction="add")], {"a": r(3, 4), "u": r(3)},
     {"y": F}, {"i": np.array([[0, 1], [2, -1], [0, 1]], np.int64)}),
    ("scatternd_mul", [node("ScatterND", ["a", "i", "u"], reduction="mul")], {"a": r(3, 4), "u": r(2, 4)},
     {"y": F}, {"i": np.array([[1], [1]], np.int64)}),
    ("gathernd_k2", [node("GatherND", ["a", "i"])], {"a": r(3, 4, 5)}, {"y": F},
     {"i": np.array([[[0, 1], [2, -1]], [[1, 3], [0, 0]]], np.int64)}),
    ("gathernd_batch1", [node("GatherND", ["a", "i"], batch_dims=1)], {"a": r(2, 3, 4)}, {"y": F},
     {"i": np.array([[[1], [0]], [[2], [2]]], np.int64)}),
    ("gathernd_batch1_full", [node("GatherND", ["a", "i"], batch_dims=1)], {"a": r(2, 3, 4)}, {"y": F},
     {"i": np.array([[1, 3], [0, 0]], np.int64)}),
    # TopK: largest/smallest, sorted, ties ordered by index, several axes, k = 0
    *[(f"topk_l{lg}_ax{ax}_k{k}", [node("TopK", ["a", "k"], ["v", "ix"], axis=ax, largest=lg)],
       {"a": np.round(r(4, 6, 5) * 2) / 2}, {"v": F, "ix": I64}, {"k": i64(k)})
      for lg in (0, 1) for ax in (-1, 1, 0) for k in (0, 1, 4)],
    ("topk_ties", [node("TopK", ["a", "k"], ["v", "ix"])], {"a": np.array([[1, 3, 3, 1, 3, 2]], np.float32)},
     {"v": F, "ix": I64}, {"k": i64(4)}),
    ("topk_int64", [node("TopK", ["a", "k"], ["v", "ix"], largest=0)], {"a": i64(5, -3, 9, 9, 0, -3)},
     {"v": I64, "ix": I64}, {"k": i64(3)}),
    ("topk_k_fed", [node("TopK", ["a", "k"], ["v", "ix"])], {"a": r(3, 40), "k": i64(7)}, {"v": F, "ix": I64}, {}),
    # OneHot
    ("onehot_axis_last", [node("OneHot", ["i", "d", "v"])], {"i": i64(0, 3, -1, 9, -7).reshape(5, 1)}, {"y": F},
     {"d": np.float32(5), "v": np.array([-1, 4], np.float32)}),
    # (the index, value and depth dtypes are combinations ONNX Runtime implements)
    ("onehot_axis0_int64", [node("OneHot", ["i", "d", "v"], axis=0)], {"i": i64(1, 0, 2, 1, -3).reshape(5, 1)},
     {"y": I64}, {"d": i64(3), "v": i64(0, 1)}),
    ("onehot_int32_indices", [node("OneHot", ["i", "d", "v"], axis=1)], {"i": np.array([[1, 0], [2, 4]], np.int32)},
     {"y": F}, {"d": np.array(3, np.int32), "v": np.array([0, 1], np.float32)}),
    ("onehot_float_indices", [node("OneHot", ["i", "d", "v"], axis=1)],
     {"i": np.array([[0.0, 2.7], [1.2, -1.0]], np.float32)}, {"y": F},
     {"d": np.float32(4), "v": np.array([2, 5], np.float32)}),
    # Hardmax
    *[(f"hardmax_ax{ax}", [node("Hardmax", ["a"], axis=ax)], {"a": np.round(r(3, 4, 5))}, {"y": F}, {})
      for ax in (0, 1, -1)],
    # LpNormalization
    *[(f"lpnorm_p{p}_ax{ax}", [node("LpNormalization", ["a"], axis=ax, p=p)], {"a": X}, {"y": F}, {})
      for p in (1, 2) for ax in (1, -1)],
    ("lpnorm_zero_row", [node("LpNormalization", ["a"])], {"a": np.array([[0, 0, 0], [3, 4, 0]], np.float32)},
     {"y": F}, {}),
    # MeanVarianceNormalization, LRN
    ("mvn_default", [node("MeanVarianceNormalization", ["a"])], {"a": X}, {"y": F}, {}),
    ("mvn_axes", [node("MeanVarianceNormalization", ["a"], axes=[1, -1])], {"a": X}, {"y": F}, {}),
    *[(f"lrn_size{s}", [node("LRN", ["a"], size=s, alpha=2e-3, beta=0.6, bias=1.5)], {"a": r(2, 7, 3, 4)},
       {"y": F}, {}) for s in (1, 3, 5)],
    # LpPool (opset 17: no dilations, no ceil_mode)
    ("lppool_2d", [node("LpPool", ["a"], kernel_shape=[2, 3], p=2)], {"a": X}, {"y": F}, {}),
    ("lppool_2d_pads_strides_p3", [node("LpPool", ["a"], kernel_shape=[3, 3], p=3, strides=[2, 2],
                                        pads=[1, 1, 1, 1])], {"a": X}, {"y": F}, {}),
    ("lppool_1d_p1_same", [node("LpPool", ["a"], kernel_shape=[3], p=1, auto_pad="SAME_UPPER", strides=[2])],
     {"a": r(2, 3, 9)}, {"y": F}, {}),
    ("lppool_3d", [node("LpPool", ["a"], kernel_shape=[2, 2, 2])], {"a": r(1, 2, 4, 4, 3)}, {"y": F}, {}),
    # Resize cubic: coordinate modes, cubic_coeff_a, exclude_outside, up and down, scales and sizes
    *[(f"resize_cubic_{ct}_a{a}_ex{ex}_{kind}",
       [node("Resize", ["a", "", "sc"] if kind != "sizes" else ["a", "", "", "sz"], mode="cubic",
             coordinate_transformation_mode=ct, cubic_coeff_a=a, exclude_outside=ex)],
       {"a": r(2, 3, 5, 7)}, {"y": F},
       {"sc": np.array([1, 1, 2.0, 1.5] if kind == "up" else [1, 1, 0.6, 0.5], np.float32)} if kind != "sizes"
       else {"sz": i64(2, 3, 9, 4)})
      for ct in ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel") for a in (-0.75, -0.5)
      for ex in (0, 1) for kind in ("up", "down", "sizes")],
    ("resize_cubic_after_conv_nhwc", [node("Conv", ["a", "w"], ["c"]),
                                      node("Resize", ["c", "", "sc"], mode="cubic", exclude_outside=1)],
     {"a": r(1, 3, 6, 5)}, {"y": F}, {"w": r(8, 3, 1, 1), "sc": np.array([1, 1, 1.5, 2], np.float32)}),
    # MaxPool's Indices output: pads, strides, dilations, ceil_mode, storage_order, 1-D/3-D, NHWC after a Conv
    *[(f"maxpool_indices_{i}", [node("MaxPool", ["a"], ["y", "ix"], **attrs)], {"a": x}, {"y": F, "ix": I64}, {})
      for i, (x, attrs) in enumerate([
          (X, {"kernel_shape": [2, 2]}),
          (X, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}),
          (X, {"kernel_shape": [3, 2], "strides": [2, 1], "storage_order": 1}),
          (X, {"kernel_shape": [2, 2], "dilations": [2, 2], "ceil_mode": 1, "strides": [2, 2]}),
          (X, {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "storage_order": 1}),
          (r(2, 3, 11), {"kernel_shape": [3], "strides": [2]}),
          (r(1, 2, 4, 5, 3), {"kernel_shape": [2, 2, 2], "pads": [0, 1, 0, 1, 0, 1]}),
          (np.round(r(1, 2, 6, 6)), {"kernel_shape": [3, 3], "strides": [1, 1]}),  # ties: the first maximum
      ])],
    ("maxpool_indices_after_conv_nhwc", [node("Conv", ["a", "w"], ["c"]),
                                         node("MaxPool", ["c"], ["y", "ix"], kernel_shape=[2, 2], strides=[2, 2])],
     {"a": r(2, 3, 6, 8)}, {"y": F, "ix": I64}, {"w": r(5, 3, 1, 1)}),
    # Einsum: the backend cases' forms, transformer contractions, broadcasting, diagonals, several operands
    *[(f"einsum_{i}", [node("Einsum", [f"x{j}" for j in range(len(shapes))], equation=eq)],
       {f"x{j}": r(*sh) for j, sh in enumerate(shapes)}, {"y": F}, {})
      for i, (eq, shapes) in enumerate([
          ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
          ("bij, bjk -> bik", [(3, 40, 33), (3, 33, 50)]),
          ("bhid,bhjd->bhij", [(2, 3, 7, 8), (2, 3, 9, 8)]),
          ("bhij,bhjd->bhid", [(1, 2, 70, 9), (1, 2, 9, 16)]),
          ("ij->ji", [(3, 4)]),
          ("ij->i", [(3, 4)]),
          ("...ii->...i", [(3, 5, 5)]),
          ("i,i", [(5,), (5,)]),
          ("ii", [(4, 4)]),
          ("ij,jk", [(3, 4), (4, 2)]),
          ("i,j->ij", [(3,), (4,)]),
          ("ij,ij->ij", [(3, 4), (3, 4)]),
          ("bij,jk->bik", [(2, 3, 4), (4, 5)]),
          ("...ij,...jk->...ik", [(2, 1, 3, 4), (1, 5, 4, 6)]),
          ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)]),
          ("ijk->", [(2, 3, 4)]),
          ("Bij,Bjk->kBi", [(2, 3, 4), (2, 4, 5)]),
          ("ijj,jk->ik", [(2, 3, 3), (3, 4)]),
          ("ij,kl->", [(2, 3), (4, 5)]),
      ])],
    ("einsum_scalar", [node("Einsum", ["x"], equation="->")], {"x": np.array(1.5, np.float32)}, {"y": F}, {}),
    # elementwise
    *[(f"unary_{op}", [node(op, ["a"])], {"a": r(4, 9)}, {"y": F}, {})
      for op in ["Sign", "Tan", "Atan", "Sinh", "Cosh", "Asinh", "Softsign"]],
    ("asin_acos_atanh", [node("Asin", ["a"], ["b"]), node("Acos", ["b"], ["c"]), node("Atanh", ["c"], ["y"])],
     {"a": np.tanh(r(4, 9))}, {"y": F}, {}),
    ("acosh", [node("Acosh", ["a"])], {"a": np.abs(r(4, 9)) + 1}, {"y": F}, {}),
    ("sign_int", [node("Sign", ["a"])], {"a": i64(-5, 0, 3)}, {"y": I64}, {}),
    ("celu", [node("Celu", ["a"], alpha=0.7)], {"a": r(4, 9) * 3}, {"y": F}, {}),
    ("thresholded_relu", [node("ThresholdedRelu", ["a"], alpha=0.4)], {"a": r(4, 9)}, {"y": F}, {}),
    ("shrink", [node("Shrink", ["a"], lambd=0.6, bias=0.2)], {"a": r(4, 9)}, {"y": F}, {}),
    ("isnan_isinf", [node("IsNaN", ["a"], ["n"]), node("IsInf", ["a"], ["p"], detect_negative=0),
                     node("IsInf", ["a"], ["q"])],
     {"a": np.array([np.nan, np.inf, -np.inf, 0, -2], np.float32)}, {"n": B, "p": B, "q": B}, {}),
    ("eyelike_k", [node("EyeLike", ["a"], k=2)], {"a": r(4, 6)}, {"y": F}, {}),
    ("eyelike_dtype_neg_k", [node("EyeLike", ["a"], k=-1, dtype=T.INT64)], {"a": r(5, 3)}, {"y": I64}, {}),
    ("reverse_sequence_time0", [node("ReverseSequence", ["a", "l"], batch_axis=1, time_axis=0)],
     {"a": r(4, 3, 2)}, {"y": F}, {"l": i64(4, 0, 2)}),
    ("reverse_sequence_batch0", [node("ReverseSequence", ["a", "l"], batch_axis=0, time_axis=1)],
     {"a": r(3, 5)}, {"y": F}, {"l": i64(1, 5, 3)}),
]


def _with_output_shapes(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Output shapes ONNX's inference leaves out (function ops such as MeanVarianceNormalization), from ORT."""
    if all(o.type.tensor_type.HasField("shape") for o in model.graph.output):
        return model
    for o, y in zip(model.graph.output, ort_run(model, feeds)):
        o.type.tensor_type.shape.Clear()
        for d in y.shape:
            o.type.tensor_type.shape.dim.add().dim_value = d
    return model


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_onnxruntime(case, threads, tmp_path):
    _, nodes, feeds, outs, inits = case
    model = _with_output_shapes(graph_model(nodes, feeds, outs, inits), feeds)
    assert check_against_ort(model, feeds, tmp_path, threads=threads) == len(engine.available_isas())


# ---- ops born after opset 17 (the converter brings models to 17): engine files built directly, the model at
# the op's own opset run by ONNX Runtime as the reference
def _engine_vs_ort(op: str, opset: int, feeds: dict[str, np.ndarray], consts: dict[str, np.ndarray],
                   out_type: int = F, rtol: float = 1e-5, atol: float = 1e-5, **attrs: object) -> None:
    model = graph_model([node(op, [*feeds, *consts], **attrs)], feeds, {"y": out_type}, consts, opset=opset)
    (expected,) = ort_run(model, feeds)
    b = SlmBuilder()
    for k, v in feeds.items():
        b.input(k, list(v.shape), str(v.dtype))
    for k, v in consts.items():
        b.constant(k, v)
    b.node(op, [*feeds, *consts], ["y"], **attrs)
    b.output("y")
    data = b.to_bytes()
    for isa in engine.available_isas():
        for threads in (1, 2):
            (y,) = engine.Session(data, threads=threads, isa=isa).run(None, feeds)
            assert y.dtype == expected.dtype and y.shape == expected.shape
            np.testing.assert_allclose(y, expected, rtol=rtol, atol=atol, err_msg=f"{op} {isa} threads={threads}")


@pytest.mark.parametrize(("axis", "scale_shape"), [(-1, [6]), (1, [5, 6]), (2, [1]), (0, [4, 1, 6])])
def test_rms_normalization_23(axis, scale_shape):
    _engine_vs_ort("RMSNormalization", 23, {"x": r(4, 5, 6) * 3}, {"s": r(*scale_shape)}, axis=axis, epsilon=1e-3)


@pytest.mark.parametrize(("groups", "per_channel"), [(2, True), (3, True), (6, True), (1, True)])
def test_group_normalization_21(groups, per_channel):
    _engine_vs_ort("GroupNormalization", 21, {"x": r(2, 6, 4, 3) + 1}, {"s": r(6), "b": r(6)},
                   num_groups=groups, epsilon=1e-4, rtol=1e-4, atol=1e-4)


def test_group_normalization_18_per_group_scale():
    """Opset 18's scale and bias are per group: each channel of group g takes scale[g], bias[g]."""
    x, s, b = r(2, 6, 5), r(3), r(3)
    g = x.reshape(2, 3, -1)
    norm = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(2, 3, 2, 5)
    expected = (norm * s[None, :, None, None] + b[None, :, None, None]).reshape(x.shape)
    bld = SlmBuilder()
    bld.input("x", list(x.shape))
    bld.constant("s", s)
    bld.constant("b", b)
    bld.node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3)
    bld.output("y")
    for isa in engine.available_isas():
        for threads in (1, 2):
            (y,) = engine.Session(bld.to_bytes(), isa=isa, threads=threads).run(None, {"x": x})
            np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_mish_swish_18_24():
    x = r(5, 7) * 4
    x[0, :3] = [30.0, -30.0, 0.0]  # softplus must neither overflow nor lose the large-x limit
    _engine_vs_ort("Mish", 18, {"x": x}, {})
    bld = SlmBuilder()
    bld.input("x", [5, 7])
    bld.node("Swish", ["x"], ["y"], alpha=0.7)
    bld.output("y")
    for isa in engine.available_isas():
        for threads in (1, 2):
            (y,) = engine.Session(bld.to_bytes(), isa=isa, threads=threads).run(None, {"x": x})
            np.testing.assert_allclose(y, x / (1 + np.exp(-0.7 * x.astype(np.float64))), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int8"])
def test_bitwise_18(op, dtype):
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, (3, 4), dtype=dtype)
    b = rng.integers(info.min, info.max, (4,), dtype=dtype)
    out = {"int64": I64, "int32": I32, "uint8": T.UINT8, "int8": T.INT8}[dtype]
    expected = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor}[op](a, b)
    if dtype in ("int64", "int32"):  # the dtypes tests/engine/onnx_cases.py can declare
        model = graph_model([node(op, ["a", "b"])], {"a": a, "b": b}, {"y": out}, None, opset=18)
        np.testing.assert_array_equal(ort_run(model, {"a": a, "b": b})[0], expected)
    bld = SlmBuilder()
    bld.input("a", [3, 4], dtype)
    bld.input("b", [4], dtype)
    bld.value("y", [3, 4], dtype)
    bld.value("z", [3, 4], dtype)
    bld.node(op, ["a", "b"], ["y"])
    bld.node("BitwiseNot", ["y"], ["z"])
    bld.output("y")
    bld.output("z")
    for isa in engine.available_isas():
        for threads in (1, 2):
            y, z = engine.Session(bld.to_bytes(), isa=isa, threads=threads).run(None, {"a": a, "b": b})
            np.testing.assert_array_equal(y, expected)
            np.testing.assert_array_equal(z, np.invert(expected))


def _bitshift_reference(a: np.ndarray, s: np.ndarray, left: bool) -> np.ndarray:
    """BitShift-28 in Python integers: arithmetic right shift, dropped high bits, out-of-range shifts."""
    bits = a.dtype.itemsize * 8
    out = []
    for v, k in zip(a.reshape(-1).tolist(), np.broadcast_to(s, a.shape).reshape(-1).tolist()):
        if k < 0 or k >= bits:
            out.append(-1 if (not left and v < 0) else 0)
        elif left:
            u = (v << k) & ((1 << bits) - 1)  # the bits that stay in the type
            out.append(u - (1 << bits) if np.issubdtype(a.dtype, np.signedinteger) and u >> (bits - 1) else u)
        else:
            out.append(v >> k)  # Python's >> is arithmetic
    return np.array(out, dtype=a.dtype).reshape(a.shape)


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64"])
def test_bitshift_28(direction, dtype):
    """uint8, int8, int32, int64 (the engine has no uint16/32/64 nor int16); shifts < 0 or >= the width too."""
    info = np.iinfo(dtype)
    bits = info.bits
    a = np.array([[1, 7, info.max, info.min, 3, -5 if info.min < 0 else 5, 0x55]], dtype)
    s = np.array([1, 3, 2, bits, 0, bits - 1, -1 if info.min < 0 else bits + 1], dtype)
    expected = _bitshift_reference(a, s, direction == "LEFT")
    data = _single("BitShift", {"a": ([1, 7], dtype), "s": ([7], dtype)}, {}, direction=direction)
    for isa in engine.available_isas():
        for threads in (1, 2):
            (y,) = engine.Session(data, isa=isa, threads=threads).run(None, {"a": a, "s": s})
            np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize(("exclusive", "reverse"), [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumprod_26(exclusive, reverse):
    x = (r(3, 5) + 1).astype(np.float32)
    y_ref = np.flip(x, 1) if reverse else x
    y_ref = np.cumprod(y_ref, axis=1)
    if exclusive:
        y_ref = np.concatenate([np.ones((3, 1), np.float32), y_ref[:, :-1]], axis=1)
    y_ref = np.flip(y_ref, 1) if reverse else y_ref
    bld = SlmBuilder()
    bld.input("x", [3, 5])
    bld.constant("ax", np.array(1, np.int64))
    bld.node("CumProd", ["x", "ax"], ["y"], exclusive=exclusive, reverse=reverse)
    bld.output("y")
    for isa in engine.available_isas():
        for threads in (1, 2):
            (y,) = engine.Session(bld.to_bytes(), isa=isa, threads=threads).run(None, {"x": x})
            np.testing.assert_allclose(y, y_ref, rtol=1e-5)


def test_nan_propagates():
    x = np.array([[np.nan, 1.0, -2.0, 3.0]], np.float32)
    for op, attrs in [("Sign", {}), ("Celu", {}), ("Shrink", {}), ("ThresholdedRelu", {}), ("Mish", {}),
                      ("Tan", {}), ("Atan", {}), ("LpNormalization", {}), ("Hardmax", {})]:
        bld = SlmBuilder()
        bld.input("x", [1, 4])
        bld.node(op, ["x"], ["y"], **attrs)
        bld.output("y")
        (y,) = engine.Session(bld.to_bytes()).run(None, {"x": x})
        if op == "Hardmax":  # NaN is the maximum (NumPy's argmax), so its position is the one set
            np.testing.assert_array_equal(y, [[1, 0, 0, 0]])
        else:
            assert np.isnan(y[0, 0]), op


def _single(op: str, inputs: dict[str, tuple[list[int], str]], consts: dict[str, np.ndarray],
            outs: list[str] | None = None, **attrs: object) -> bytes:
    b = SlmBuilder()
    for k, (shape, dt) in inputs.items():
        b.input(k, shape, dt)
    for k, v in consts.items():
        b.constant(k, v)
    outs = outs or ["y"]
    if op == "BitShift":
        b.value("y", None, next(iter(inputs.values()))[1])
    b.node(op, [*inputs, *consts], outs, **attrs)
    for o in outs:
        b.output(o)
    return b.to_bytes()


@pytest.mark.parametrize(
    ("op", "consts", "attrs", "feeds", "message"),
    [
        ("GatherElements", {"i": i64(0, 5).reshape(1, 2)}, {"axis": 1}, {}, "out of range"),
        ("GatherElements", {"i": np.zeros((3, 1), np.int64)}, {"axis": 1}, {}, "exceeds data shape"),
        ("GatherND", {"i": i64(0, 1, 0).reshape(1, 3)}, {}, {}, "last dim"),
        ("ScatterElements", {"i": i64(2).reshape(1, 1), "u": np.ones((1, 1), np.float32)}, {"axis": 0}, {},
         "out of range"),
        ("ScatterElements", {"i": i64(0).reshape(1, 1), "u": np.ones((1, 1), np.float32)},
         {"reduction": "avg"}, {}, "reduction"),
        ("ScatterND", {"i": i64(0, 9).reshape(1, 2), "u": np.ones(1, np.float32)}, {}, {}, "out of range"),
        ("ScatterND", {"i": i64(0).reshape(1, 1), "u": np.ones(2, np.float32)}, {}, {}, "updates shape"),
        ("TopK", {"k": i64(4)}, {}, {}, "out of range"),
        ("TopK", {"k": i64(-1)}, {}, {}, "out of range"),
        ("CumSum", {"ax": i64(2)}, {}, {}, "axis"),
        ("CumSum", {"ax": i64(0, 1)}, {}, {}, "one element"),
        ("Trilu", {"k": np.array([1], np.int32)}, {}, {}, "dtype"),
        ("LpNormalization", {}, {"p": 3}, {}, "'p'"),
        ("LRN", {}, {"size": 0}, {}, "'size'"),
        ("GroupNormalization", {"s": np.ones(3, np.float32), "b": np.ones(3, np.float32)}, {"num_groups": 2}, {},
         "divisible"),
        ("Einsum", {"w": np.ones((4, 5), np.float32)}, {"equation": "ij,jk->ik"}, {}, "sizes 3 and 4"),
        ("Einsum", {}, {"equation": "ij->k"}, {}, "in no input"),
        ("Einsum", {}, {"equation": "ijk->i"}, {}, "labels for an input of rank 2"),
        ("Einsum", {}, {"equation": "i1->i"}, {}, "invalid character"),
        ("Einsum", {}, {"equation": "ij->ii"}, {}, "repeated"),
    ],
)
def test_bad_input_is_a_clear_error(op, consts, attrs, feeds, message):
    x = r(2, 3)
    if op in ("LRN", "GroupNormalization"):
        x = r(1, 3, 2, 2)
    outs = ["y", "ix"] if op == "TopK" else ["y"]
    with pytest.raises(engine.EngineError, match=message):
        engine.Session(_single(op, {"x": (list(x.shape), "float32")}, consts, outs, **attrs)).run(None, {"x": x})


def test_onehot_depth_unknown_at_plan_time_is_refused():
    data = _single("OneHot", {"i": ([3], "int64"), "d": ([], "float32")}, {"v": np.array([0, 1], np.float32)})
    with pytest.raises(engine.EngineError, match="depth"):
        engine.Session(data).run(None, {"i": i64(0, 1, 2), "d": np.float32(3)})


def test_bad_index_at_run_time_is_a_clear_error():
    """Indices fed at run time are checked before they address memory."""
    data = _single("GatherElements", {"x": ([2, 3], "float32"), "i": ([2, 1], "int64")}, {}, axis=1)
    sess = engine.Session(data)
    np.testing.assert_array_equal(sess.run(None, {"x": np.arange(6, dtype=np.float32).reshape(2, 3),
                                                  "i": i64(2, -3).reshape(2, 1)})[0], [[2], [3]])
    with pytest.raises(engine.EngineError, match="out of range"):
        sess.run(None, {"x": r(2, 3), "i": i64(3, 0).reshape(2, 1)})


# ---- constant-folding evaluators (export/const_eval.py) against ONNX Runtime
FOLD_CASES = [c for c in CASES if c[1][0].op_type in
              ("CumSum", "Trilu", "GatherElements", "ScatterElements", "ScatterND", "GatherND", "OneHot", "TopK",
               "Sign")]


@pytest.mark.parametrize("case", FOLD_CASES, ids=[c[0] for c in FOLD_CASES])
def test_const_eval_matches_onnxruntime(case):
    _, nodes, feeds, outs, inits = case
    (nd,) = nodes
    model = graph_model(nodes, feeds, outs, inits)
    expected = ort_run(model, feeds)
    values = {**feeds, **inits}
    inputs = [np.asarray(values[n]) if n else None for n in nd.input]
    attrs = {a.name: helper.get_attribute_value(a) for a in nd.attribute}
    attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    assert const_eval.evaluable(nd.op_type)
    got = const_eval.evaluate(nd.op_type, inputs, attrs)
    assert const_eval.result_elements(nd.op_type, inputs, attrs) >= got[0].size
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_shape_computation_with_new_ops_folds(tmp_path):
    """CumSum over a Shape (a position-ids pattern) folds offline, so the engine file holds no CumSum."""
    import export

    # CumSum([2, 3, 4]) = [2, 5, 9]; minus [0, 2, 5] gives the shape back, reversed by TopK: [4, 3, 2]
    nodes = [node("Shape", ["a"], ["s"]), node("CumSum", ["s", "ax"], ["c"]), node("Sub", ["c", "d"], ["s2"]),
             node("TopK", ["s2", "k"], ["s3", "ix"], largest=1), node("Reshape", ["a", "s3"], ["y"])]
    feeds = {"a": r(2, 3, 4)}
    inits = {"ax": i64(0), "d": i64(0, 2, 5), "k": i64(3)}
    model = graph_model(nodes, feeds, {"y": F}, inits)
    path = tmp_path / "m.slm"
    export.convert_model(model, path)
    ops = {n.op_type for n in export.load_engine_file_summary(path).nodes}
    assert ops == {"Reshape"}, ops
    check_against_ort(model, feeds, tmp_path, optimize=True)


# ---- later-opset models through the converter (export/opsets.py): ops the engine runs at their own later
# version stay as they are, the other nodes are adapted (ReduceMean-18's axes input becomes an attribute)
LATE_CASES = [
    ("rms_23", 23, [node("RMSNormalization", ["a", "s"], ["b"], axis=-2, epsilon=1e-3),
                    node("ReduceMean", ["b", "ax"], ["y"], keepdims=1)],
     {"a": r(2, 5, 6)}, {"s": r(5, 6), "ax": i64(1)}),
    ("group_norm_21", 21, [node("GroupNormalization", ["a", "s", "b"], num_groups=2)],
     {"a": r(2, 4, 3, 3)}, {"s": r(4), "b": r(4)}),
    ("scatter_elements_max_18", 18, [node("ScatterElements", ["a", "i", "u"], axis=1, reduction="max")],
     {"a": r(3, 4)}, {"i": np.array([[0, 0], [3, 1], [2, 2]], np.int64), "u": r(3, 2)}),
    ("scatternd_min_18", 18, [node("ScatterND", ["a", "i", "u"], reduction="min")],
     {"a": r(3, 4)}, {"i": np.array([[0, 1], [0, 1], [2, 3]], np.int64), "u": r(3)}),
    ("lppool_dilations_18", 18, [node("LpPool", ["a"], kernel_shape=[2, 2], dilations=[2, 2], ceil_mode=1,
                                      strides=[2, 2])],
     {"a": r(1, 2, 7, 7)}, {}),
    ("mish_18", 18, [node("Mish", ["a"])], {"a": r(3, 7) * 3}, {}),
    ("gelu_tanh_20", 20, [node("Gelu", ["a"], approximate="tanh")], {"a": r(3, 7) * 3}, {}),
    # what reads a late op's output keeps its dtype and shape (inferred at the source opset)
    ("rms_matmul_swish_chain_24", 24, [node("RMSNormalization", ["a", "s"], ["b"]), node("MatMul", ["b", "w"], ["c"]),
                                       node("Swish", ["c"], ["d"], alpha=0.5), node("Add", ["d", "c"], ["y"])],
     {"a": r(2, 3, 8)}, {"s": r(8), "w": r(8, 5)}),
]


@pytest.mark.parametrize(("optimize", "threads"), [(False, 1), (True, 2)])
@pytest.mark.parametrize("case", LATE_CASES, ids=[c[0] for c in LATE_CASES])
def test_later_opset_model_converts(case, optimize, threads, tmp_path):
    import export

    _, opset, nodes, feeds, inits = case
    model = _with_output_shapes(graph_model(nodes, feeds, {"y": F}, inits, opset=opset), feeds)
    del model.graph.value_info[:]  # as exporters often leave them: the converter infers what it needs
    assert check_against_ort(model, feeds, tmp_path, optimize=optimize, threads=threads) == len(engine.available_isas())
    report = export.convert_model(model, tmp_path / "m.slm", optimize=optimize)
    assert report.opset.startswith(f"{opset} -> 17")
    # kept whole, not expanded into their ONNX function bodies: the engine runs them natively
    assert not any(op in report.opset for op in ("RMSNormalization", "Mish", "Swish", "GroupNormalization"))


def test_older_opset_models_are_upgraded_as_before(tmp_path):
    """Models of opset 17 or below go through ONNX's version converter: later versions only matter above 17."""
    import export

    feeds = {"a": r(3, 4)}
    inits = {"i": np.array([[0, 1]], np.int64), "u": r(1, 2)}
    model = graph_model([node("ScatterElements", ["a", "i", "u"], axis=1)], feeds, {"y": F}, inits, opset=13)
    check_against_ort(model, feeds, tmp_path)
    report = export.convert_model(model, tmp_path / "m.slm")
    assert report.opset == "13 -> 17"


def test_pytorch_model_with_the_new_ops(tmp_path):
    """torch.cumsum / topk / triu / gather / one_hot, exported by export.to_onnx and converted with every pass."""
    torch = pytest.importorskip("torch")
    import export

    class M(torch.nn.Module):
        def forward(self, x):  # noqa: ANN001, ANN202
            mask = (x > 0).to(torch.int64)
            positions = torch.cumsum(mask, dim=1) * mask  # position ids from a mask
            v, i = torch.topk(x, 3, dim=-1)
            return (positions, v, i, torch.triu(x[:, :4, :4], 1), torch.gather(x, 2, i), torch.cumsum(x, dim=-1),
                    torch.nn.functional.one_hot(i, 10))

    x = torch.randn(2, 5, 10)
    names = [f"o{k}" for k in range(7)]
    onnx_path = export.to_onnx(M().eval(), x, tmp_path / "m.onnx", output_names=names)
    model = onnx.load(onnx_path)
    feeds = {"input": x.numpy()}
    assert check_against_ort(model, feeds, tmp_path, optimize=True) == len(engine.available_isas())
