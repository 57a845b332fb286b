"""Every engine op against ONNX Runtime on small single-node graphs, at every ISA."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper

import engine
from tests.engine.onnx_cases import check_against_ort, graph_model
from tests.engine.slm_builder import SlmBuilder

F, I64, B = T.FLOAT, T.INT64, T.BOOL
rng = np.random.default_rng(0)


def r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def i64(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def node(op: str, ins: list[str], outs: list[str] | None = None, **attrs: object):
    return helper.make_node(op, ins, outs or ["y"], **attrs)


X = r(2, 3, 5, 6)
# (id, nodes, feeds, outputs, initializers)
CASES = [
    # elementwise with broadcasting
    ("add_bcast", [node("Add", ["a", "b"])], {"a": r(2, 3, 4), "b": r(3, 1)}, {"y": F}, {}),
    ("sub", [node("Sub", ["a", "b"])], {"a": r(2, 3), "b": r(3)}, {"y": F}, {}),
    ("mul_scalar", [node("Mul", ["a", "b"])], {"a": r(4, 5)}, {"y": F}, {"b": np.float32(3.0)}),
    ("div", [node("Div", ["a", "b"])], {"a": r(4, 5), "b": r(4, 1) + 5}, {"y": F}, {}),
    ("pow", [node("Pow", ["a", "b"])], {"a": np.abs(r(3, 4)) + 0.1, "b": r(4)}, {"y": F}, {}),
    ("add_int64", [node("Add", ["a", "b"])], {"a": i64(1, 2, 3), "b": i64(5)}, {"y": I64}, {}),
    ("div_int64", [node("Div", ["a", "b"])], {"a": i64(7, -7, 9)}, {"y": I64}, {"b": i64(2)}),
    ("equal", [node("Equal", ["a", "b"])], {"a": i64(1, 2, 3), "b": i64(1, 0, 3)}, {"y": B}, {}),
    ("less", [node("Less", ["a", "b"])], {"a": r(3, 4), "b": r(4)}, {"y": B}, {}),
    ("greater", [node("Greater", ["a", "b"])], {"a": r(3, 4), "b": r(3, 1)}, {"y": B}, {}),
    ("max3", [node("Max", ["a", "b", "c"])], {"a": r(3, 4), "b": r(4), "c": r(3, 1)}, {"y": F}, {}),
    ("min2", [node("Min", ["a", "b"])], {"a": r(3, 4), "b": r(4)}, {"y": F}, {}),
    ("sum3", [node("Sum", ["a", "b", "c"])], {"a": r(3, 4), "b": r(4), "c": r(3, 1)}, {"y": F}, {}),
    ("mean2", [node("Mean", ["a", "b"])], {"a": r(3, 4), "b": r(3, 4)}, {"y": F}, {}),
    ("mod_int_python", [node("Mod", ["a", "b"])], {"a": i64(7, -7, 7, -7)}, {"y": I64}, {"b": i64(3, 3, -3, -3)}),
    ("mod_float_fmod", [node("Mod", ["a", "b"], fmod=1)], {"a": r(3, 4) * 5}, {"y": F},
     {"b": np.float32(1.5)}),
    ("argmax_keep", [node("ArgMax", ["a"], axis=1)], {"a": r(3, 5, 2)}, {"y": I64}, {}),
    ("argmin_last", [node("ArgMin", ["a"], axis=-1, keepdims=0, select_last_index=1)],
     {"a": np.array([[1, 0, 0], [2, 2, 3]], np.float32)}, {"y": I64}, {}),
    ("castlike", [node("CastLike", ["a", "t"])], {"a": r(3, 4) * 4}, {"y": I64}, {"t": i64(0)}),
    ("where", [node("Where", ["c", "a", "b"])], {"c": r(3, 4) > 0, "a": r(4), "b": r(3, 1)}, {"y": F}, {}),
    ("not", [node("Not", ["c"])], {"c": r(5) > 0}, {"y": B}, {}),
    ("prelu", [node("PRelu", ["a", "s"])], {"a": X}, {"y": F}, {"s": r(3, 1, 1)}),
    # unary
    *[(f"unary_{op}", [node(op, ["a"])], {"a": r(4, 7)}, {"y": F}, {})
      for op in ["Relu", "Neg", "Exp", "Abs", "Sigmoid", "Tanh", "Erf", "HardSwish", "Softsign", "Floor", "Ceil"]],
    ("sqrt", [node("Sqrt", ["a"])], {"a": np.abs(r(4, 7))}, {"y": F}, {}),
    ("log", [node("Log", ["a"])], {"a": np.abs(r(4, 7)) + 0.1}, {"y": F}, {}),
    ("leakyrelu", [node("LeakyRelu", ["a"], alpha=0.2)], {"a": r(3, 8)}, {"y": F}, {}),
    ("hardsigmoid", [node("HardSigmoid", ["a"], alpha=0.3, beta=0.4)], {"a": r(3, 8)}, {"y": F}, {}),
    ("clip", [node("Clip", ["a", "lo", "hi"])], {"a": r(3, 8)}, {"y": F},
     {"lo": np.float32(-0.5), "hi": np.float32(0.7)}),
    ("clip_min_above_max", [node("Clip", ["a", "lo", "hi"])], {"a": r(3, 8)}, {"y": F},
     {"lo": np.float32(0.5), "hi": np.float32(-0.5)}),
    ("clip_min_only", [node("Clip", ["a", "lo"])], {"a": r(3, 8)}, {"y": F}, {"lo": np.float32(0.0)}),
    ("elu", [node("Elu", ["a"], alpha=0.7)], {"a": r(3, 8)}, {"y": F}, {}),
    # shape computations and movement
    ("reshape", [node("Reshape", ["a", "s"])], {"a": X}, {"y": F}, {"s": i64(0, -1, 6)}),
    ("flatten", [node("Flatten", ["a"], axis=2)], {"a": X}, {"y": F}, {}),
    ("squeeze", [node("Squeeze", ["a", "ax"])], {"a": r(2, 1, 3, 1)}, {"y": F}, {"ax": i64(1, -1)}),
    ("unsqueeze", [node("Unsqueeze", ["a", "ax"])], {"a": r(2, 3)}, {"y": F}, {"ax": i64(0, 3)}),
    ("transpose", [node("Transpose", ["a"], perm=[0, 2, 3, 1])], {"a": X}, {"y": F}, {}),
    ("transpose5d", [node("Transpose", ["a"], perm=[0, 2, 1, 3, 4])], {"a": r(1, 2, 3, 4, 5)}, {"y": F}, {}),
    # runs of 2 and 3 contiguous elements (MobileViT's patch unfolding), and of 1 on int64
    ("transpose_short_runs", [node("Transpose", ["a"], perm=[0, 2, 1, 3])], {"a": r(7, 2, 5, 2)}, {"y": F}, {}),
    ("transpose_runs_of_3", [node("Transpose", ["a"], perm=[1, 0, 2])], {"a": r(4, 6, 3)}, {"y": F}, {}),
    ("transpose_int64", [node("Transpose", ["a"], perm=[1, 0])], {"a": np.arange(12, dtype=np.int64).reshape(3, 4)},
     {"y": I64}, {}),
    ("concat", [node("Concat", ["a", "b"], axis=1)], {"a": X, "b": r(2, 2, 5, 6)}, {"y": F}, {}),
    ("split_input", [node("Split", ["a", "s"], ["y", "z"], axis=1)], {"a": X}, {"y": F, "z": F}, {"s": i64(1, 2)}),
    ("split_equal", [node("Split", ["a"], ["y", "z"], axis=-1)], {"a": X}, {"y": F, "z": F}, {}),
    ("slice", [node("Slice", ["a", "st", "en", "ax", "sp"])], {"a": X}, {"y": F},
     {"st": i64(1, -1), "en": i64(100, 0), "ax": i64(2, 3), "sp": i64(2, -2)}),
    ("gather", [node("Gather", ["a", "i"], axis=1)], {"a": X}, {"y": F}, {"i": i64(2, -1, 0)}),
    ("gather_scalar", [node("Gather", ["a", "i"], axis=0)], {"a": r(4, 3)}, {"y": F}, {"i": np.array(2, np.int64)}),
    ("expand", [node("Expand", ["a", "s"])], {"a": r(3, 1)}, {"y": F}, {"s": i64(2, 3, 4)}),
    ("tile", [node("Tile", ["a", "t"])], {"a": r(2, 3)}, {"y": F}, {"t": i64(2, 3)}),
    ("pad_constant", [node("Pad", ["a", "p", "v"])], {"a": X}, {"y": F},
     {"p": i64(0, 0, 1, 2, 0, 1, 2, 0), "v": np.float32(1.5)}),
    ("pad_reflect", [node("Pad", ["a", "p"], mode="reflect")], {"a": X}, {"y": F}, {"p": i64(0, 0, 2, 1, 0, 0, 1, 2)}),
    ("pad_edge", [node("Pad", ["a", "p"], mode="edge")], {"a": X}, {"y": F}, {"p": i64(0, 0, 2, 1, 0, 0, 1, 2)}),
    ("shape_slice", [node("Shape", ["a"], ["s"], start=1, end=-1), node("Cast", ["s"], to=F)], {"a": X}, {"y": F},
     {}),
    ("constant_of_shape", [node("Shape", ["a"], ["s"]), node("ConstantOfShape", ["s"], ["z"]),
                           node("Add", ["a", "z"])], {"a": r(2, 3)}, {"y": F}, {}),
    ("cast_int", [node("Cast", ["a"], to=I64)], {"a": r(3, 4) * 5}, {"y": I64}, {}),
    ("cast_bool", [node("Cast", ["a"], to=B)], {"a": np.array([0, 1.5, -2, 0], np.float32)}, {"y": B}, {}),
    ("range", [node("Range", ["a", "b", "c"])], {}, {"y": I64},
     {"a": np.array(1, np.int64), "b": np.array(10, np.int64), "c": np.array(3, np.int64)}),
    ("identity", [node("Identity", ["a"])], {"a": X}, {"y": F}, {}),
    ("depth_to_space_dcr", [node("DepthToSpace", ["a"], blocksize=2)], {"a": r(1, 8, 2, 3)}, {"y": F}, {}),
    ("depth_to_space_crd", [node("DepthToSpace", ["a"], blocksize=2, mode="CRD")], {"a": r(1, 8, 2, 3)}, {"y": F},
     {}),
    ("space_to_depth", [node("SpaceToDepth", ["a"], blocksize=2)], {"a": r(1, 2, 4, 6)}, {"y": F}, {}),
    # reductions, normalizations
    ("reduce_mean_hw", [node("ReduceMean", ["a"], axes=[2, 3], keepdims=1)], {"a": X}, {"y": F}, {}),
    ("reduce_sum_input", [node("ReduceSum", ["a", "ax"], keepdims=0)], {"a": X}, {"y": F}, {"ax": i64(1)}),
    ("reduce_l1", [node("ReduceL1", ["a"], axes=[1, 3])], {"a": X}, {"y": F}, {}),
    ("reduce_logsumexp", [node("ReduceLogSumExp", ["a"], axes=[-1], keepdims=0)], {"a": X}, {"y": F}, {}),
    ("reduce_max_all", [node("ReduceMax", ["a"], keepdims=0)], {"a": X}, {"y": F}, {}),
    ("softmax", [node("Softmax", ["a"], axis=1)], {"a": r(3, 5, 2)}, {"y": F}, {}),
    ("logsoftmax", [node("LogSoftmax", ["a"])], {"a": r(3, 5)}, {"y": F}, {}),
    ("layernorm", [node("LayerNormalization", ["a", "s", "b"], axis=-1, epsilon=1e-5)], {"a": r(2, 3, 8)}, {"y": F},
     {"s": r(8), "b": r(8)}),
    ("batchnorm", [node("BatchNormalization", ["a", "s", "b", "m", "v"])], {"a": X}, {"y": F},
     {"s": r(3), "b": r(3), "m": r(3), "v": np.abs(r(3)) + 0.5}),
    ("instancenorm", [node("InstanceNormalization", ["a", "s", "b"])], {"a": X}, {"y": F}, {"s": r(3), "b": r(3)}),
    # pools
    ("maxpool", [node("MaxPool", ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], {"a": X},
     {"y": F}, {}),
    ("maxpool_ceil", [node("MaxPool", ["a"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)], {"a": X}, {"y": F},
     {}),
    ("avgpool_pad", [node("AveragePool", ["a"], kernel_shape=[3, 3], pads=[1, 0, 1, 2], count_include_pad=1)],
     {"a": X}, {"y": F}, {}),
    ("avgpool_ceil", [node("AveragePool", ["a"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)], {"a": X},
     {"y": F}, {}),
    ("maxpool_1d", [node("MaxPool", ["a"], kernel_shape=[3], strides=[2], pads=[1, 0])], {"a": r(2, 3, 9)},
     {"y": F}, {}),
    ("avgpool_3d", [node("AveragePool", ["a"], kernel_shape=[2, 2, 3], pads=[1, 0, 1, 0, 1, 1], count_include_pad=1,
                         ceil_mode=1, strides=[2, 2, 2])], {"a": r(1, 2, 5, 4, 6)}, {"y": F}, {}),
    ("gap", [node("GlobalAveragePool", ["a"])], {"a": X}, {"y": F}, {}),
    ("gmp", [node("GlobalMaxPool", ["a"])], {"a": X}, {"y": F}, {}),
    # resize
    ("resize_nearest", [node("Resize", ["a", "", "sc"], mode="nearest")], {"a": X}, {"y": F},
     {"sc": np.array([1, 1, 2, 1.5], np.float32)}),
    ("resize_nearest_asym_floor",
     [node("Resize", ["a", "", "", "sz"], mode="nearest", coordinate_transformation_mode="asymmetric",
           nearest_mode="floor")], {"a": X}, {"y": F}, {"sz": i64(2, 3, 7, 4)}),
    *[(f"resize_linear_{ct}", [node("Resize", ["a", "", "sc"], mode="linear", coordinate_transformation_mode=ct)],
       {"a": X}, {"y": F}, {"sc": np.array([1, 1, 2, 0.5], np.float32)})
      for ct in ["half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"]],
    # matrix products
    ("gemm_transb", [node("Gemm", ["a", "w", "c"], transB=1, alpha=0.5, beta=2.0)], {"a": r(5, 7)}, {"y": F},
     {"w": r(9, 7), "c": r(9)}),
    ("gemm_transa", [node("Gemm", ["a", "w", "c"], transA=1)], {"a": r(7, 5)}, {"y": F}, {"w": r(7, 3), "c": r(5, 3)}),
    ("gemm_act_b", [node("Gemm", ["a", "w"])], {"a": r(4, 6), "w": r(6, 3)}, {"y": F}, {}),
    ("matmul_const", [node("MatMul", ["a", "w"])], {"a": r(2, 3, 13)}, {"y": F}, {"w": r(13, 37)}),
    ("matmul_batched", [node("MatMul", ["a", "b"])], {"a": r(2, 1, 4, 6), "b": r(3, 6, 5)}, {"y": F}, {}),
    ("matmul_vec", [node("MatMul", ["a", "b"])], {"a": r(6), "b": r(2, 6, 5)}, {"y": F}, {}),
    # batch-1 classifiers: one row, the threads split the weight panels (a partial last panel)
    ("gemm_one_row", [node("Gemm", ["a", "w", "c"], transB=1)], {"a": r(1, 50)}, {"y": F},
     {"w": r(200, 50), "c": r(200)}),
    ("matmul_one_row_const", [node("MatMul", ["a", "w"])], {"a": r(1, 1, 40)}, {"y": F}, {"w": r(40, 130)}),
    # one tall product of two activations: threads split its rows (many small ones: whole matrices)
    ("matmul_one_tall", [node("MatMul", ["a", "b"])], {"a": r(1, 70, 7), "b": r(1, 7, 9)}, {"y": F}, {}),
    ("matmul_heads", [node("MatMul", ["a", "b"])], {"a": r(2, 4, 33, 16), "b": r(2, 4, 16, 33)}, {"y": F}, {}),
    # convolutions
    ("conv_3x3", [node("Conv", ["a", "w", "b"], pads=[1, 1, 1, 1])], {"a": X}, {"y": F}, {"w": r(8, 3, 3, 3),
                                                                                          "b": r(8)}),
    ("conv_1x1", [node("Conv", ["a", "w"])], {"a": X}, {"y": F}, {"w": r(5, 3, 1, 1)}),
    ("conv_stride_dil_asym", [node("Conv", ["a", "w"], strides=[2, 1], dilations=[1, 2], pads=[0, 1, 2, 0])],
     {"a": r(1, 4, 9, 8)}, {"y": F}, {"w": r(6, 4, 3, 3)}),
    ("conv_group", [node("Conv", ["a", "w"], group=2, pads=[1, 1, 1, 1])], {"a": r(1, 4, 6, 6)}, {"y": F},
     {"w": r(6, 2, 3, 3)}),
    ("conv_depthwise3", [node("Conv", ["a", "w", "b"], group=16, pads=[1, 1, 1, 1], strides=[2, 2])],
     {"a": r(2, 16, 9, 7)}, {"y": F}, {"w": r(16, 1, 3, 3), "b": r(16)}),
    ("conv_depthwise5", [node("Conv", ["a", "w"], group=8, pads=[2, 2, 2, 2])], {"a": r(1, 8, 7, 7)}, {"y": F},
     {"w": r(8, 1, 5, 5)}),
    ("conv_same_upper", [node("Conv", ["a", "w"], auto_pad="SAME_UPPER", strides=[2, 2])], {"a": r(1, 3, 7, 8)},
     {"y": F}, {"w": r(4, 3, 3, 3)}),
    ("conv_transpose", [node("ConvTranspose", ["a", "w", "b"], strides=[2, 2], pads=[1, 1, 0, 0],
                             output_padding=[1, 0])], {"a": r(1, 4, 3, 5)}, {"y": F}, {"w": r(4, 3, 3, 3), "b": r(3)}),
    ("conv_transpose_group", [node("ConvTranspose", ["a", "w"], group=2, dilations=[2, 1])], {"a": r(2, 4, 3, 3)},
     {"y": F}, {"w": r(4, 1, 2, 2)}),
    # NHWC <-> plain transitions through the executor's layout assignment
    ("conv_reshape_matmul", [node("Conv", ["a", "w"], ["c"], pads=[1, 1, 1, 1]), node("Reshape", ["c", "s"], ["f"]),
                             node("MatMul", ["f", "m"])], {"a": X}, {"y": F},
     {"w": r(4, 3, 3, 3), "s": i64(2, -1), "m": r(120, 7)}),
    ("conv_concat_conv", [node("Conv", ["a", "w1"], ["c1"]), node("Conv", ["a", "w2"], ["c2"], pads=[1, 1, 1, 1]),
                          node("Concat", ["c1", "c2", "a"], ["c"], axis=1), node("Conv", ["c", "w3"])],
     {"a": X}, {"y": F}, {"w1": r(2, 3, 1, 1), "w2": r(4, 3, 3, 3), "w3": r(5, 9, 3, 3)}),
    ("conv_split_mul_gap", [node("Conv", ["a", "w"], ["c"]), node("Split", ["c", "s"], ["p", "q"], axis=1),
                            node("Sigmoid", ["q"], ["g"]), node("Mul", ["p", "g"], ["m"]),
                            node("Add", ["m", "k"], ["n"]), node("GlobalAveragePool", ["n"], ["gp"]),
                            node("Flatten", ["gp"], ["f"]), node("Gemm", ["f", "fc"], transB=1)],
     {"a": X}, {"y": F}, {"w": r(8, 3, 1, 1), "s": i64(4, 4), "k": r(4, 1, 1), "fc": r(3, 4)}),
    ("conv_shuffle", [node("Conv", ["a", "w"], ["c"]), node("Reshape", ["c", "s1"], ["r1"]),
                      node("Transpose", ["r1"], ["t"], perm=[0, 2, 1, 3, 4]), node("Reshape", ["t", "s2"], ["r2"]),
                      node("Conv", ["r2", "w2"], group=4)], {"a": X}, {"y": F},
     {"w": r(8, 3, 1, 1), "s1": i64(2, 2, 4, 5, 6), "s2": i64(2, 8, 5, 6), "w2": r(8, 2, 1, 1)}),
    # the fast paths of Reduce and of float Add/Sub/Mul/Div on NHWC activations: a squeeze-excite
    # (spatial mean, per-channel gate), reductions whose axes are or are not one run in memory,
    # a scalar on either side of a non-commutative op
    ("conv_squeeze_excite", [node("Conv", ["a", "w"], ["c"], pads=[1, 1, 1, 1]),
                             node("ReduceMean", ["c"], ["m"], axes=[2, 3], keepdims=1), node("Sigmoid", ["m"], ["g"]),
                             node("Mul", ["c", "g"], ["p"]), node("ReduceMax", ["p"], ["q"], axes=[2, 3], keepdims=0),
                             node("Div", ["d", "q"], ["y"])],
     {"a": r(1, 3, 9, 7)}, {"y": F}, {"w": r(40, 3, 3, 3), "d": np.float32(2.0)}),
    ("conv_reduce_channels_then_sub", [node("Conv", ["a", "w"], ["c"]),
                                       node("ReduceMean", ["c"], ["m"], axes=[1], keepdims=1),
                                       node("Sub", ["m", "c"], ["y"])],
     {"a": r(2, 3, 5, 6)}, {"y": F}, {"w": r(20, 3, 1, 1)}),
    ("reduce_mean_last_then_div", [node("ReduceMean", ["a"], ["m"], axes=[-1], keepdims=1),
                                   node("Div", ["a", "m"])], {"a": r(4, 9, 70) + 3}, {"y": F}, {}),
    ("reduce_max_middle", [node("ReduceMax", ["a"], axes=[1], keepdims=0)], {"a": r(3, 17, 33)}, {"y": F}, {}),
    # planes longer than one copy chunk: the threads split each contiguous run
    ("concat_long_runs", [node("Concat", ["a", "b"], axis=1)], {"a": r(1, 4, 100, 100), "b": r(1, 3, 100, 100)},
     {"y": F}, {}),
    # a channel gather (the shuffle pass's output) on an NHWC activation, with a negative index,
    # and a Gather over another axis of an NHWC tensor (through plain copies)
    ("conv_gather_channels", [node("Conv", ["a", "w"], ["c"], pads=[1, 1, 1, 1]),
                              node("Gather", ["c", "i"], ["g"], axis=1), node("Conv", ["g", "w2"])],
     {"a": r(1, 3, 6, 7)}, {"y": F}, {"w": r(6, 3, 3, 3), "i": i64(0, 3, 1, 4, 2, -1), "w2": r(4, 6, 1, 1)}),
    ("conv_gather_shuffle2", [node("Conv", ["a", "w"], ["c"]), node("Gather", ["c", "i"], ["g"], axis=1),
                              node("Conv", ["g", "w2"])],
     {"a": r(1, 3, 5, 4)}, {"y": F}, {"w": r(10, 3, 1, 1), "i": i64(0, 5, 1, 6, 2, 7, 3, 8, 4, 9),
                                       "w2": r(3, 10, 1, 1)}),
    ("conv_gather_rows", [node("Conv", ["a", "w"], ["c"]), node("Gather", ["c", "i"], axis=2)],
     {"a": r(2, 3, 6, 7)}, {"y": F}, {"w": r(5, 3, 1, 1), "i": i64(5, 0, 2)}),
    # 3x3 stride-1 convolutions with 32+ channels on a 14x14+ image run as Winograd F(2x2, 3x3):
    # odd sizes (partial tiles), padding, fused Relu, and the batch
    ("conv_winograd", [node("Conv", ["a", "w", "b"], ["c"], pads=[1, 1, 1, 1]), node("Relu", ["c"], ["d"]),
                       node("Conv", ["d", "w2"], pads=[1, 0, 1, 0])],
     {"a": r(2, 32, 15, 17)}, {"y": F}, {"w": r(40, 32, 3, 3) * 0.2, "b": r(40), "w2": r(33, 40, 3, 3) * 0.2}),
    ("conv_resize_pool", [node("Conv", ["a", "w"], ["c"]), node("Resize", ["c", "", "sc"], ["u"], mode="linear"),
                          node("MaxPool", ["u"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                          node("Pad", ["p", "pd"], ["q"]), node("ReduceMean", ["q"], axes=[1], keepdims=1)],
     {"a": X}, {"y": F}, {"w": r(4, 3, 1, 1), "sc": np.array([1, 1, 2, 2], np.float32),
                          "pd": i64(0, 0, 1, 0, 0, 0, 0, 1)}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_onnxruntime(case, tmp_path):
    _, nodes, feeds, outputs, inits = case
    model = graph_model(nodes, feeds, outputs, inits)
    assert check_against_ort(model, feeds, tmp_path) == len(engine.available_isas())


@pytest.mark.parametrize("m,n", [(70, 33), (256, 256), (1, 5)])
def test_attention_core_matches_onnxruntime(tmp_path, m, n):
    # the export pass fuses MatMul -> Softmax -> MatMul into MatMulSoftmaxMatMul; blocks of query
    # rows that do not divide M, key counts that are not a vector multiple, a single query
    nodes = [node("MatMul", ["q", "kt"], ["s"]), node("Softmax", ["s"], ["p"], axis=-1), node("MatMul", ["p", "v"])]
    feeds = {"q": r(2, 2, m, 16), "kt": r(2, 2, 16, n), "v": r(2, 2, n, 20)}
    model = graph_model(nodes, feeds, {"y": F}, {})
    assert check_against_ort(model, feeds, tmp_path, optimize=True) == len(engine.available_isas())
    from export.converter import prepare_graph

    assert prepare_graph(model).graph.op_counts() == {"MatMulSoftmaxMatMul": 1}


@pytest.mark.parametrize("hw,cout", [(12, 8), (3, 40)])
def test_squeeze_excite_gate_in_the_conv_matches_onnxruntime(tmp_path, hw, cout):
    # se_scale_fusion gives the 1x1 Conv the gate as input 3; the engine scales the weights per
    # image (more pixels than output channels) or the pixels (fewer), at batch 2
    nodes = [node("Conv", ["a", "w1"], ["x"], pads=[1, 1, 1, 1]), node("GlobalAveragePool", ["x"], ["p"]),
             node("Sigmoid", ["p"], ["g"]), node("Mul", ["x", "g"], ["xg"]), node("Conv", ["xg", "w", "b"])]
    feeds = {"a": r(2, 3, hw, hw)}
    model = graph_model(nodes, feeds, {"y": F}, {"w1": r(24, 3, 3, 3), "w": r(cout, 24, 1, 1), "b": r(cout)})
    assert check_against_ort(model, feeds, tmp_path, optimize=True) == len(engine.available_isas())
    from export.converter import prepare_graph

    assert "Mul" not in prepare_graph(model).graph.op_counts()


def test_supported_ops_cover_the_required_set():
    ops = engine.supported_ops()
    required = [
        "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Neg", "Exp",
        "Log", "Abs", "Relu", "LeakyRelu", "PRelu", "Clip", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh",
        "Erf", "Gelu", "SiLU", "Softmax", "LayerNormalization", "BatchNormalization", "InstanceNormalization",
        "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "ReduceSum", "ReduceMax", "Reshape",
        "Flatten", "Transpose", "Concat", "Split", "Slice", "Gather", "Squeeze", "Unsqueeze", "Expand",
        "Tile", "Pad", "Resize", "Where", "Equal", "Less", "Greater", "Cast", "Shape", "ConstantOfShape",
        "Range", "DepthToSpace", "SpaceToDepth", "Identity", "Dropout", "Not",
    ]
    assert sorted(set(required) - set(ops)) == []
    for op in ["Shape", "Gather", "Concat", "Slice", "Unsqueeze", "Squeeze", "Reshape", "Cast", "Add", "Mul", "Sub",
               "Div", "Equal", "Expand"]:
        assert "int64" in ops[op], op
    assert ops["Where"] == ["bool"] and "bool" in ops["Not"]


def test_fused_activation_on_conv_gemm_matmul(tmp_path):
    """The converter's fusion writes `activation` attributes; optimize=True must match ORT's unfused graph."""
    nodes = [node("Conv", ["a", "w", "b"], ["c"], pads=[1, 1, 1, 1]), node("Clip", ["c", "lo", "hi"], ["d"]),
             node("Flatten", ["d"], ["f"]), node("Gemm", ["f", "fc"], ["g"], transB=1), node("Relu", ["g"], ["h"]),
             node("MatMul", ["h", "m"], ["k"]), node("Sigmoid", ["k"], ["y"])]
    inits = {"w": r(4, 3, 3, 3), "b": r(4), "lo": np.float32(0), "hi": np.float32(6), "fc": r(10, 120), "m": r(10, 3)}
    feeds = {"a": r(2, 3, 5, 6)}
    check_against_ort(graph_model(nodes, feeds, {"y": F}, inits), feeds, tmp_path, optimize=True)


def _single(op: str, shape: list, consts: dict[str, np.ndarray], **attrs: object) -> bytes:
    b = SlmBuilder()
    b.input("x", shape)
    for k, v in consts.items():
        b.constant(k, v)
    b.node(op, ["x", *consts], ["y"], **attrs)
    b.output("y")
    return b.to_bytes()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_engine_op(approximate):
    """Gelu is an engine op (opset-20 semantics) that the converter's fusion writes; ONNX 17 has none."""
    x = r(4, 9) * 3
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))
    approx = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    for isa in engine.available_isas():
        (y,) = engine.Session(_single("Gelu", [4, 9], {}, approximate=approximate), isa=isa).run(None, {"x": x})
        np.testing.assert_allclose(y, exact if approximate == "none" else approx, rtol=1e-5, atol=1e-5)


def test_silu_engine_op():
    x = r(3, 40) * 4
    for isa in engine.available_isas():
        (y,) = engine.Session(_single("SiLU", [3, 40], {}), isa=isa).run(None, {"x": x})
        np.testing.assert_allclose(y, x / (1 + np.exp(-x)), rtol=1e-5, atol=1e-6)


def test_nan_propagates_through_activations():
    x = np.array([[np.nan, -1.0, 2.0]], np.float32)
    for op in ["Relu", "Sigmoid", "HardSwish", "Tanh"]:
        for isa in engine.available_isas():
            (y,) = engine.Session(_single(op, [1, 3], {}), isa=isa).run(None, {"x": x})
            assert np.isnan(y[0, 0]) and not np.isnan(y[0, 1:]).any(), (op, isa)


@pytest.mark.parametrize(
    ("op", "consts", "attrs", "message"),
    [
        ("Reshape", {"s": i64(4, -1)}, {}, "cannot reshape"),
        ("Gather", {"i": i64(7)}, {"axis": 1}, "out of range"),
        ("Transpose", {}, {"perm": [0, 0]}, "repeats axis"),
        ("Gelu", {}, {"approximate": "fast"}, "approximate"),
        ("Split", {"s": i64(1, 1)}, {"axis": 1}, "2 sizes for 1 outputs"),
    ],
)
def test_bad_input_is_a_clear_error(op, consts, attrs, message):
    with pytest.raises(engine.EngineError, match=message):
        engine.Session(_single(op, [2, 3], consts, **attrs)).run(None, {"x": r(2, 3)})
