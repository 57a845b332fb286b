"""Each optimization pass on a small hand-built graph: what changed, and numerics unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto, helper

from export.passes import DEFAULT_PIPELINE, PASSES
from tests.export.helpers import assert_same, init, make_model, optimize, run, run_graph, tensor_in

rng = np.random.default_rng(0)
I64 = TensorProto.INT64


def _x(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def test_every_pipeline_pass_is_registered():
    assert set(DEFAULT_PIPELINE) <= set(PASSES.names())


def test_identity_and_dropout_are_removed_even_before_a_graph_output():
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Dropout", ["b"], ["y"], name="drop"),
    ]
    model = make_model(nodes, [tensor_in("x", [2, 3])], [tensor_in("y", [2, 3])])
    graph, res = optimize(model, ["identity_elimination"])
    assert graph.op_counts() == {"Relu": 1}
    assert graph.outputs == ["y"] and res["identity_elimination"].changes["removed Dropout"] == 1
    assert_same(model, graph, {"x": _x(2, 3)})


def test_dropout_with_used_mask_is_kept():
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"])]
    model = make_model(nodes, [tensor_in("x", [2])], [tensor_in("y", [2]), tensor_in("mask", [2], TensorProto.BOOL)])
    graph, _ = optimize(model, ["identity_elimination"])
    assert graph.op_counts() == {"Dropout": 1}


def test_dead_nodes_and_constants_are_removed():
    nodes = [
        helper.make_node("Relu", ["x"], ["y"]),
        helper.make_node("Mul", ["x", "w"], ["unused1"]),
        helper.make_node("Sigmoid", ["unused1"], ["unused2"]),
    ]
    model = make_model(nodes, [tensor_in("x", [4])], [tensor_in("y", [4])], [init("w", _x(4))])
    graph, res = optimize(model, ["dead_node_elimination"])
    assert graph.op_counts() == {"Relu": 1} and "w" not in graph.values
    assert res["dead_node_elimination"].changes == {"removed nodes": 2, "removed constants": 1}
    assert_same(model, graph, {"x": _x(4)})


def test_cse_merges_identical_nodes_and_constants():
    nodes = [
        helper.make_node("Mul", ["x", "c1"], ["a"]),
        helper.make_node("Mul", ["x", "c2"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["y"]),
    ]
    c = np.full(3, 2.0, np.float32)
    model = make_model(nodes, [tensor_in("x", [3])], [tensor_in("y", [3])], [init("c1", c), init("c2", c.copy())])
    graph, res = optimize(model, ["cse", "dead_node_elimination"])
    assert graph.op_counts() == {"Mul": 1, "Add": 1}
    assert res["cse"].changes == {"merged constants": 1, "merged nodes": 1}
    assert_same(model, graph, {"x": _x(3)})


def _shape_chain(batch) -> tuple:
    """x[b,3,4,5] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), Gather(Shape(x), [1]) * 20))."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]),
        helper.make_node("Gather", ["s", "i1"], ["c"], axis=0),
        helper.make_node("Mul", ["c", "k20"], ["rest"]),
        helper.make_node("Concat", ["b1", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [
        init("i0", np.array(0, np.int64)),
        init("i1", np.array([1], np.int64)),
        init("ax0", np.array([0], np.int64)),
        init("k20", np.array([20], np.int64)),
    ]
    return make_model(nodes, [tensor_in("x", [batch, 3, 4, 5])], [tensor_in("y", [batch, 60])], inits)


def test_constant_folding_of_a_static_shape_chain():
    model = _shape_chain(2)
    graph, res = optimize(model, ["constant_folding", "dead_node_elimination"])
    assert graph.op_counts() == {"Reshape": 1}
    reshape = graph.nodes[0]
    assert graph.const(reshape.inputs[1]).tolist() == [2, 60]
    assert res["constant_folding"].changes["static Shape"] >= 1
    assert_same(model, graph, {"x": _x(2, 3, 4, 5)})


def test_dynamic_batch_is_not_folded_but_static_dims_are():
    model = _shape_chain("batch")
    graph, _ = optimize(model, ["constant_folding", "dead_node_elimination"])
    ops = graph.op_counts()
    # the batch dim keeps its Shape->Gather; the Gather of static dim 1 and its Mul fold away
    assert ops["Shape"] == 1 and ops["Gather"] == 1 and "Mul" not in ops
    concat = next(n for n in graph.nodes if n.op_type == "Concat")
    assert graph.const(concat.inputs[1]).tolist() == [60]
    for batch in (1, 3):
        assert_same(model, graph, {"x": _x(batch, 3, 4, 5)})


def _bn_inits(prefix: str, c: int) -> list:
    return [
        init(f"{prefix}g", rng.uniform(0.5, 2.0, c).astype(np.float32)),
        init(f"{prefix}b", _x(c)),
        init(f"{prefix}m", _x(c)),
        init(f"{prefix}v", rng.uniform(0.1, 3.0, c).astype(np.float32)),
    ]


def _bn(inp: str, out: str, prefix: str = "bn"):
    return helper.make_node("BatchNormalization", [inp, f"{prefix}g", f"{prefix}b", f"{prefix}m", f"{prefix}v"],
                            [out], epsilon=1e-3)


@pytest.mark.parametrize("with_bias", [True, False])
def test_bn_folds_into_conv_exactly(with_bias):
    conv_in = ["x", "w", "cb"] if with_bias else ["x", "w"]
    nodes = [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1], group=2), _bn("c", "y")]
    inits = [init("w", _x(6, 2, 3, 3)), init("cb", _x(6)), *_bn_inits("bn", 6)]
    model = make_model(nodes, [tensor_in("x", [1, 4, 5, 5])], [tensor_in("y", [1, 6, 5, 5])], inits)
    graph, res = optimize(model, ["bn_folding"])
    assert graph.op_counts() == {"Conv": 1} and res["bn_folding"].changes["folded into Conv"] == 1
    assert_same(model, graph, {"x": _x(1, 4, 5, 5)}, atol=1e-5)


def test_bn_folds_into_gemm_and_conv_transpose():
    nodes = [
        helper.make_node("Gemm", ["x", "w", "gb"], ["g"], transB=1, alpha=0.5, beta=2.0),
        _bn("g", "y", "bn"),
        helper.make_node("ConvTranspose", ["z", "tw"], ["t"], group=2, strides=[2, 2]),
        _bn("t", "y2", "tb"),
    ]
    inits = [init("w", _x(3, 4)), init("gb", _x(3)), init("tw", _x(4, 3, 2, 2)), *_bn_inits("bn", 3),
             *_bn_inits("tb", 6)]
    model = make_model(nodes, [tensor_in("x", [2, 4]), tensor_in("z", [1, 4, 3, 3])],
                       [tensor_in("y", [2, 3]), tensor_in("y2", [1, 6, 6, 6])], inits)
    graph, res = optimize(model, ["bn_folding"])
    assert "BatchNormalization" not in graph.op_counts()
    assert res["bn_folding"].changes == {"folded into Gemm": 1, "folded into ConvTranspose": 1}
    assert_same(model, graph, {"x": _x(2, 4), "z": _x(1, 4, 3, 3)}, atol=1e-5)


def test_bn_not_folded_when_conv_output_has_another_reader():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), _bn("c", "y"), helper.make_node("Relu", ["c"], ["y2"])]
    inits = [init("w", _x(2, 2, 1, 1)), *_bn_inits("bn", 2)]
    model = make_model(nodes, [tensor_in("x", [1, 2, 3, 3])],
                       [tensor_in("y", [1, 2, 3, 3]), tensor_in("y2", [1, 2, 3, 3])], inits)
    graph, res = optimize(model, ["bn_folding"])
    assert graph.op_counts()["BatchNormalization"] == 1 and not res["bn_folding"].changed


def _act_nodes(kind: str):
    """Nodes computing y = act(c) for each activation form, plus their initializers."""
    if kind == "Clip":
        return [helper.make_node("Clip", ["c", "lo", "hi"], ["y"])], [init("lo", np.float32(0)),
                                                                       init("hi", np.float32(6))]
    if kind == "LeakyRelu":
        return [helper.make_node("LeakyRelu", ["c"], ["y"], alpha=0.2)], []
    if kind == "HardSigmoid":
        return [helper.make_node("HardSigmoid", ["c"], ["y"], alpha=0.3, beta=0.4)], []
    if kind == "SiLU":
        return [helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", ["s", "c"], ["y"])], []
    if kind == "Gelu":
        return _gelu_nodes("c", "y", form=0)
    return [helper.make_node(kind, ["c"], ["y"])], []


def _gelu_nodes(x: str, y: str, form: int):
    """The erf-GELU in the association orders exporters produce."""
    inits = [init("sqrt2", np.float32(math.sqrt(2))), init("inv_sqrt2", np.float32(1 / math.sqrt(2))),
             init("one", np.float32(1.0)), init("half", np.float32(0.5))]
    scaled = (helper.make_node("Div", [x, "sqrt2"], ["d"]) if form != 3
              else helper.make_node("Mul", [x, "inv_sqrt2"], ["d"]))
    head = [scaled, helper.make_node("Erf", ["d"], ["e"]), helper.make_node("Add", ["one", "e"], ["t"])]
    tails = {
        0: [helper.make_node("Mul", [x, "t"], ["m"]), helper.make_node("Mul", ["m", "half"], [y])],
        1: [helper.make_node("Mul", [x, "half"], ["m"]), helper.make_node("Mul", ["m", "t"], [y])],
        2: [helper.make_node("Mul", ["t", "half"], ["m"]), helper.make_node("Mul", [x, "m"], [y])],
        3: [helper.make_node("Mul", ["half", x], ["m"]), helper.make_node("Mul", ["t", "m"], [y])],
    }
    return head + tails[form], inits


ACTS = ["Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh", "SiLU", "Gelu"]


@pytest.mark.parametrize("act", ACTS)
def test_activation_fuses_into_conv(act):
    nodes, inits = _act_nodes(act)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), *nodes]
    inits += [init("w", _x(3, 2, 3, 3)), init("b", _x(3))]
    model = make_model(nodes, [tensor_in("x", [1, 2, 4, 4])], [tensor_in("y", [1, 3, 4, 4])], inits)
    graph, _ = optimize(model)
    assert graph.op_counts() == {"Conv": 1}
    conv = graph.nodes[0]
    assert conv.attrs["activation"] == act and conv.outputs == ["y"]
    expected_params = {"Clip": [0.0, 6.0], "LeakyRelu": [0.2], "HardSigmoid": [0.3, 0.4]}.get(act, [])
    np.testing.assert_allclose(conv.attrs["activation_params"], expected_params, rtol=1e-6)
    assert_same(model, graph, {"x": _x(1, 2, 4, 4) * 3}, atol=1e-5)


def test_clip_with_runtime_bounds_is_not_fused():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["c"]), helper.make_node("Clip", ["c", "lo"], ["y"])]
    model = make_model(nodes, [tensor_in("x", [2, 3]), tensor_in("lo", [])], [tensor_in("y", [2, 4])],
                       [init("w", _x(3, 4))])
    graph, _ = optimize(model)
    assert graph.op_counts() == {"MatMul": 1, "Clip": 1}


@pytest.mark.parametrize("form", [0, 1, 2, 3])
def test_standalone_gelu_forms_become_one_node(form):
    nodes, inits = _gelu_nodes("x", "y", form)
    model = make_model(nodes, [tensor_in("x", [2, 5])], [tensor_in("y", [2, 5])], inits)
    graph, res = optimize(model)
    assert graph.op_counts() == {"Gelu": 1}
    assert graph.nodes[0].attrs["approximate"] == "none"
    assert res["silu_gelu_patterns"].changes["Gelu patterns"] == 1
    assert_same(model, graph, {"x": _x(2, 5) * 3})


def test_standalone_silu_becomes_one_node_and_shared_sigmoid_is_kept():
    nodes = [
        helper.make_node("Sigmoid", ["x"], ["s"]),
        helper.make_node("Mul", ["x", "s"], ["y"]),
        helper.make_node("Sigmoid", ["x2"], ["s2"]),
        helper.make_node("Mul", ["x2", "s2"], ["y2"]),
    ]
    model = make_model(nodes, [tensor_in("x", [4]), tensor_in("x2", [4])],
                       [tensor_in("y", [4]), tensor_in("y2", [4]), tensor_in("s2", [4])])
    graph, _ = optimize(model)
    # s2 is also a graph output, so the second pattern must stay as it is
    assert graph.op_counts() == {"SiLU": 1, "Sigmoid": 1, "Mul": 1}
    assert_same(model, graph, {"x": _x(4), "x2": _x(4)})


def test_matmul_add_becomes_gemm_only_for_2d():
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["bias", "m"], ["y"]),
        helper.make_node("MatMul", ["x3", "w"], ["m3"]),
        helper.make_node("Add", ["m3", "bias"], ["y3"]),
    ]
    model = make_model(nodes, [tensor_in("x", ["batch", 3]), tensor_in("x3", [2, 5, 3])],
                       [tensor_in("y", ["batch", 4]), tensor_in("y3", [2, 5, 4])],
                       [init("w", _x(3, 4)), init("bias", _x(1, 4))])
    graph, res = optimize(model, ["matmul_to_gemm"])
    assert graph.op_counts() == {"Gemm": 1, "MatMul": 1, "Add": 1}
    assert res["matmul_to_gemm"].changes["MatMul+Add -> Gemm"] == 1
    assert_same(model, graph, {"x": _x(3, 3), "x3": _x(2, 5, 3)})


def test_reshape_and_transpose_chains_simplify():
    nodes = [
        helper.make_node("Reshape", ["x", "s1"], ["r1"]),
        helper.make_node("Reshape", ["r1", "s2"], ["r2"]),
        helper.make_node("Transpose", ["r2"], ["t1"], perm=[0, 2, 1]),
        helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 1]),
        helper.make_node("Transpose", ["t2"], ["t3"], perm=[1, 0, 2]),
        helper.make_node("Transpose", ["t3"], ["t4"], perm=[0, 2, 1]),
        helper.make_node("Relu", ["f"], ["fr"]),
        helper.make_node("Flatten", ["fr"], ["f2"], axis=1),
    ]
    inits = [init("s1", np.array([6, 4], np.int64)), init("s2", np.array([2, 3, 4], np.int64))]
    model = make_model(nodes, [tensor_in("x", [2, 12]), tensor_in("f", [3, 7])],
                       [tensor_in("t4", [3, 4, 2]), tensor_in("f2", [3, 7])], inits)
    graph, res = optimize(model, ["reshape_simplification", "dead_node_elimination"])
    # Reshape pair -> one, Transpose pair (identity) removed, other pair composed, Flatten no-op gone
    assert graph.op_counts() == {"Reshape": 1, "Transpose": 1, "Relu": 1}
    assert next(n for n in graph.nodes if n.op_type == "Transpose").attrs["perm"] == [1, 2, 0]
    assert res["reshape_simplification"].changes["merged Reshape pairs"] == 1
    assert_same(model, graph, {"x": _x(2, 12), "f": _x(3, 7)})


def _shuffle_nodes(x: str, y: str, tag: str, split_shape: str, back_shape: str, perm=(0, 2, 1, 3, 4)):
    return [
        helper.make_node("Reshape", [x, split_shape], [f"{tag}_r"]),
        helper.make_node("Transpose", [f"{tag}_r"], [f"{tag}_t"], perm=list(perm)),
        helper.make_node("Reshape", [f"{tag}_t", back_shape], [y]),
    ]


def test_channel_shuffle_becomes_one_gather_with_the_same_values():
    # ShuffleNetV2's shuffle (2 groups) and a ShuffleNetV1-style one (3 groups), the second
    # behind a Relu so that the pass sees a produced input; a rank-5 Transpose with another
    # permutation is not a shuffle and stays.
    nodes = [*_shuffle_nodes("x", "s1", "a", "split2", "back"),
             helper.make_node("Relu", ["s1"], ["h"]),
             *_shuffle_nodes("h", "s2", "b", "split3", "back"),
             *_shuffle_nodes("s2", "z", "c", "split2", "back", perm=(0, 1, 2, 4, 3))]
    inits = [init("split2", np.array([1, 2, 6, 5, 5], np.int64)), init("split3", np.array([1, 3, 4, 5, 5], np.int64)),
             init("back", np.array([1, 12, 5, 5], np.int64))]
    model = make_model(nodes, [tensor_in("x", [1, 12, 5, 5])], [tensor_in("z", [1, 12, 5, 5])], inits)
    graph, res = optimize(model, ["channel_shuffle", "dead_node_elimination"])
    assert res["channel_shuffle"].changes["channel shuffles -> Gather"] == 2
    assert graph.op_counts() == {"Gather": 2, "Relu": 1, "Reshape": 2, "Transpose": 1}
    gathers = [n for n in graph.nodes if n.op_type == "Gather"]
    assert graph.const(gathers[0].inputs[1]).tolist() == [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]
    assert all(n.attrs["axis"] == 1 for n in gathers)
    assert_same(model, graph, {"x": _x(1, 12, 5, 5)})


def test_channel_shuffle_whose_inner_value_has_another_reader_is_kept():
    nodes = [*_shuffle_nodes("x", "y", "a", "split2", "back"), helper.make_node("Identity", ["a_t"], ["t_out"])]
    inits = [init("split2", np.array([1, 2, 6, 5, 5], np.int64)), init("back", np.array([1, 12, 5, 5], np.int64))]
    model = make_model(nodes, [tensor_in("x", [1, 12, 5, 5])],
                       [tensor_in("y", [1, 12, 5, 5]), tensor_in("t_out", [1, 6, 2, 5, 5])], inits)
    graph, res = optimize(model, ["channel_shuffle"])
    assert not res["channel_shuffle"].changed
    assert graph.op_counts()["Transpose"] == 1


def _attention_nodes(axis: int = -1):
    return [helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=axis),
            helper.make_node("MatMul", ["p", "v"], ["y"])]


def test_attention_core_becomes_one_node_with_the_same_values():
    model = make_model(_attention_nodes(), [tensor_in("q", [2, 3, 9, 4]), tensor_in("kt", [2, 3, 4, 11]),
                                            tensor_in("v", [2, 3, 11, 5])], [tensor_in("y", [2, 3, 9, 5])])
    graph, res = optimize(model, ["attention_fusion"])
    assert graph.op_counts() == {"MatMulSoftmaxMatMul": 1}
    assert res["attention_fusion"].changes["MatMul+Softmax+MatMul -> MatMulSoftmaxMatMul"] == 1
    feeds = {"q": _x(2, 3, 9, 4), "kt": _x(2, 3, 4, 11), "v": _x(2, 3, 11, 5)}
    assert_same(model, graph, feeds)


@pytest.mark.parametrize("case", ["softmax_axis", "broadcast_batch", "scores_read_twice"])
def test_attention_core_is_not_fused_when_the_op_would_differ(case):
    nodes = _attention_nodes(axis=2 if case == "softmax_axis" else -1)
    q_shape = [1, 3, 9, 4] if case == "broadcast_batch" else [2, 3, 9, 4]
    outputs = [tensor_in("y", [2, 3, 9, 5])]
    if case == "scores_read_twice":
        nodes.append(helper.make_node("Identity", ["s"], ["s_out"]))
        outputs.append(tensor_in("s_out", [2, 3, 9, 11]))
    model = make_model(nodes, [tensor_in("q", q_shape), tensor_in("kt", [2, 3, 4, 11]), tensor_in("v", [2, 3, 11, 5])],
                       outputs)
    graph, res = optimize(model, ["attention_fusion"])
    assert not res["attention_fusion"].changed and "MatMulSoftmaxMatMul" not in graph.op_counts()


def _se_nodes(conv_attrs: dict | None = None):
    return [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Sigmoid", ["p"], ["g"]),
            helper.make_node("Mul", ["x", "g"], ["xg"]), helper.make_node("Conv", ["xg", "w", "b"], ["y"],
                                                                           **(conv_attrs or {}))]


def test_squeeze_excite_gate_moves_into_the_pointwise_conv():
    model = make_model(_se_nodes(), [tensor_in("x", [2, 6, 5, 5])], [tensor_in("y", [2, 4, 5, 5])],
                       [init("w", _x(4, 6, 1, 1)), init("b", _x(4))])
    graph, res = optimize(model, ["se_scale_fusion"])
    assert res["se_scale_fusion"].changes["squeeze-excite Mul -> Conv input 3"] == 1
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    assert "Mul" not in graph.op_counts() and conv.inputs[0] == "x" and conv.inputs[3] == "g"
    assert_same(model, graph, {"x": _x(2, 6, 5, 5)})


def test_squeeze_excite_gate_stays_before_a_3x3_conv():
    model = make_model(_se_nodes({"pads": [1, 1, 1, 1]}), [tensor_in("x", [1, 6, 5, 5])],
                       [tensor_in("y", [1, 4, 5, 5])], [init("w", _x(4, 6, 3, 3)), init("b", _x(4))])
    graph, res = optimize(model, ["se_scale_fusion"])
    assert not res["se_scale_fusion"].changed and graph.op_counts()["Mul"] == 1


def test_unknown_pass_name_is_named():
    from configs.registry import UnknownNameError

    model = _shape_chain(2)
    with pytest.raises(UnknownNameError, match="constant_foldin"):
        optimize(model, ["constant_foldin"])


def test_run_graph_really_checks_fused_numerics():
    # guard for the unfuse helper itself: a wrongly fused activation must change the result
    nodes, inits = _act_nodes("Relu")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["c"]), *nodes]
    model = make_model(nodes, [tensor_in("x", [2, 3])], [tensor_in("y", [2, 4])], [*inits, init("w", _x(3, 4))])
    graph, _ = optimize(model)
    graph.nodes[0].attrs["activation"] = "Sigmoid"
    x = _x(2, 3)
    assert not np.allclose(run_graph(graph, {"x": x})[0], run(model, {"x": x})[0])


def test_dynamic_batch_reshape_target_becomes_constant_copy_dims():
    model = _shape_chain("batch")
    graph, res = optimize(model)
    # Shape(x)[0] at position 0 is exactly what ONNX's 0 ("copy this dim") means
    assert graph.op_counts() == {"Reshape": 1}
    assert graph.const(graph.nodes[0].inputs[1]).tolist() == [0, 60]
    assert res["reshape_simplification"].changes["constant Reshape targets"] == 1
    for batch in (1, 3):
        assert_same(model, graph, {"x": _x(batch, 3, 4, 5)})


def test_view_batch_minus_one_on_2d_is_removed():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]),
        helper.make_node("Concat", ["b1", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["r", "target"], ["v"]),
        helper.make_node("Sigmoid", ["v"], ["y"]),
    ]
    inits = [init("i0", np.array(0, np.int64)), init("ax0", np.array([0], np.int64)),
             init("m1", np.array([-1], np.int64))]
    model = make_model(nodes, [tensor_in("x", ["batch", 8])], [tensor_in("y", ["batch", 8])], inits)
    graph, _ = optimize(model)
    assert graph.op_counts() == {"Relu": 1, "Sigmoid": 1}
    for batch in (1, 3):
        assert_same(model, graph, {"x": _x(batch, 8)})


def test_reshape_target_from_another_tensor_is_not_rewritten():
    # the target copies dims of a different tensor: 0 would copy the wrong dim
    nodes = [
        helper.make_node("Shape", ["z"], ["s"]),
        helper.make_node("Reshape", ["x", "s"], ["y"]),
    ]
    model = make_model(nodes, [tensor_in("x", ["n", 6]), tensor_in("z", ["m", 6])], [tensor_in("y", ["m", 6])])
    graph, _ = optimize(model)
    assert graph.op_counts() == {"Shape": 1, "Reshape": 1}


@pytest.mark.parametrize("fmod, want", [(0, [1, -2, 3, -2]), (1, [1, 1, -2, -2])])
def test_mod_and_logic_of_constants_fold(fmod, want):
    # torch's attention exports compute slice bounds with Mod of constants; unfolded, the slice length (and the
    # rank of everything after it) stays unknown and the file cannot be written
    a, b = np.asarray([7, 7, -7, -7], np.int64), np.asarray([3, -3, 5, -5], np.int64)
    nodes = [helper.make_node("Mod", ["a", "b"], ["m"], fmod=fmod),
             helper.make_node("Greater", ["m", "zero"], ["pos"]),
             helper.make_node("And", ["pos", "pos"], ["both"]),
             helper.make_node("Cast", ["both"], ["flag"], to=I64),
             helper.make_node("Add", ["m", "flag"], ["s"]),
             helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "sf"], ["y"])]
    model = make_model(nodes, [tensor_in("x", [4])], [tensor_in("y", [4])],
                       [init("a", a), init("b", b), init("zero", np.zeros(1, np.int64))])
    graph, _ = optimize(model, ["constant_folding", "dead_node_elimination"])
    assert graph.op_counts() == {"Add": 1}
    x = _x(4)
    expect = x + (np.asarray(want) + (np.asarray(want) > 0)).astype(np.float32)
    np.testing.assert_allclose(run(model, {"x": x})[0], expect, rtol=1e-6)
    assert_same(model, graph, {"x": x})
