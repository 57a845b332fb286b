"""Models of every opset, each node read at its own opset's semantics (export/opsets.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import engine
from export.converter import convert, prepare_graph
from export.engine_file import load_engine_file_summary
from export.errors import ModelFormatError
from export.opsets import ENGINE_OPSET, to_engine_forms

NEWEST = onnx.defs.onnx_opset_version()
RNG = np.random.default_rng(0)


def _model(nodes: list[onnx.NodeProto], inputs: dict[str, tuple[int, list[int]]], outputs: list[str], opset: int,
           inits: dict[str, np.ndarray] | None = None, check: bool = True) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(k, t, s) for k, (t, s) in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 10 if opset <= 22 else onnx.IR_VERSION
    # output shapes come from ONNX's own inference: the checker wants them
    model = onnx.shape_inference.infer_shapes(model)
    if check:
        onnx.checker.check_model(model)
    return model


def _versioned(opset: int) -> onnx.ModelProto:
    """Reduce, Split and Pad written the way `opset` writes them: the ops whose form changed over 11..newest."""
    nodes, inits = [], {}
    if opset >= 18:
        inits["axes"] = np.asarray([2, 3], np.int64)
        nodes.append(helper.make_node("ReduceMean", ["x", "axes"], ["mean"], keepdims=1))
    else:
        nodes.append(helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2, 3], keepdims=1))
    nodes.append(helper.make_node("Sub", ["x", "mean"], ["centred"]))
    if opset >= 18:  # 5 channels into 2: sizes 3 and 2, which only num_outputs can say without sizes
        nodes.append(helper.make_node("Split", ["centred"], ["a", "b"], axis=1, num_outputs=2))
    else:
        split = np.asarray([3, 2], np.int64)
        if opset >= 13:
            inits["split"] = split
            nodes.append(helper.make_node("Split", ["centred", "split"], ["a", "b"], axis=1))
        else:
            nodes.append(helper.make_node("Split", ["centred"], ["a", "b"], axis=1, split=[3, 2]))
    if opset >= 18:  # pads for the last axis only
        inits["pads"], inits["pad_axes"] = np.asarray([1, 2], np.int64), np.asarray([-1], np.int64)
        nodes.append(helper.make_node("Pad", ["b", "pads", "", "pad_axes"], ["y"], mode="reflect"))
    else:
        inits["pads"] = np.asarray([0, 0, 0, 1, 0, 0, 0, 2], np.int64)
        nodes.append(helper.make_node("Pad", ["b", "pads"], ["y"], mode="reflect"))
    return _model(nodes, {"x": (TensorProto.FLOAT, [1, 5, 4, 6])}, ["a", "y"], opset, inits)


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp_path, name: str = "m") -> list[np.ndarray]:
    path = tmp_path / f"{name}.slm"
    convert(model, path)
    return [engine.Session(path, threads=t).run(None, feeds) for t in (1, 2)][-1]


@pytest.mark.parametrize("opset", range(11, NEWEST + 1))
def test_every_opset_runs_with_its_own_semantics(opset, tmp_path):
    model = _versioned(opset)
    x = RNG.standard_normal((1, 5, 4, 6)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})
    got = _run(model, {"x": x}, tmp_path)
    assert [g.shape for g in got] == [(1, 3, 4, 6), (1, 2, 4, 9)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # the file keeps the opset the model was written at, not the engine's
    assert load_engine_file_summary(tmp_path / "m.slm").meta["source_opset"] == str(opset)


def test_run_time_reduction_axes_stay_an_input(tmp_path):
    # axes fed at run time (planned by value, as small int inputs are): no attribute to fold them into
    node = helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=0)
    # (no checker: ONNX cannot give the output a shape without the axes, and the checker wants one)
    model = _model([node], {"x": (TensorProto.FLOAT, [2, 3, 4]), "axes": (TensorProto.INT64, [1])}, ["y"], 20,
                   check=False)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None]))
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    for axis in (0, 2):
        axes = np.asarray([axis], np.int64)
        got = _run(model, {"x": x, "axes": axes}, tmp_path)[0]
        np.testing.assert_array_equal(got, x.max(axis=axis))


def test_resize_axes_and_aspect_policy_become_full_sizes(tmp_path):
    sizes = np.asarray([6, 10], np.int64)
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest", axes=[2, 3],
                            keep_aspect_ratio_policy="not_larger")
    model = _model([node], {"x": (TensorProto.FLOAT, [1, 2, 4, 4])}, ["y"], 19, {"sizes": sizes})
    x = RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = _run(model, {"x": x}, tmp_path)[0]
    assert got.shape == want.shape == (1, 2, 6, 6)
    np.testing.assert_array_equal(got, want)


def test_cast_saturate_is_dropped_for_non_float8_targets(tmp_path):
    node = helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT32, saturate=1)
    back = helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT, saturate=0)
    model = _model([node, back], {"x": (TensorProto.FLOAT, [5])}, ["y"], 21)
    x = np.asarray([-2.7, -0.5, 0.0, 1.5, 3.9], np.float32)
    np.testing.assert_array_equal(_run(model, {"x": x}, tmp_path)[0], x.astype(np.int32).astype(np.float32))


@pytest.mark.parametrize("op, opset, attrs", [
    ("RMSNormalization", 23, {"axis": -1, "epsilon": 1e-5}),
    ("Mish", 18, {}),
    ("Swish", 24, {"alpha": 1.5}),
])
def test_function_ops_the_engine_lacks_are_expanded(op, opset, attrs, tmp_path):
    inputs = {"x": (TensorProto.FLOAT, [2, 3, 8])}
    names, inits = ["x"], {}
    if op == "RMSNormalization":
        inits["scale"] = RNG.standard_normal(8).astype(np.float32)
        names.append("scale")
    model = _model([helper.make_node(op, names, ["y"], **attrs)], inputs, ["y"], opset, inits)
    _, rewrites = to_engine_forms(model, engine.supported_ops().keys() - {op}, "<test>",
                                  reinfer=lambda m: onnx.shape_inference.infer_shapes(m))
    assert rewrites.expanded[op] == 1
    x = RNG.standard_normal((2, 3, 8)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(_run(model, {"x": x}, tmp_path)[0], want, rtol=1e-5, atol=1e-5)


def test_an_op_the_engine_runs_natively_is_kept_whatever_its_version():
    node = helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")
    model = _model([node], {"x": (TensorProto.FLOAT, [4])}, ["y"], 20)
    prepared = prepare_graph(model)
    assert prepared.graph.op_counts() == {"Gelu": 1}
    assert prepared.source_opset == 20 and prepared.graph.opset == ENGINE_OPSET


@pytest.mark.parametrize("node, opset, field", [
    (helper.make_node("Pad", ["x", "pads"], ["y"], mode="wrap", name="pad"), 19, "wrap"),
    (helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", antialias=1, name="up"), 19,
     "antialias"),
    (helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode="CRD", name="s2d"), 28, "mode"),
])
def test_later_semantics_the_engine_lacks_are_refused_by_name(node, opset, field, tmp_path):
    inits = {"scales": np.asarray([1, 1, 0.5, 0.5], np.float32), "pads": np.asarray([0, 0, 1, 1, 0, 0, 1, 1])}
    model = _model([node], {"x": (TensorProto.FLOAT, [1, 4, 8, 8])}, ["y"], opset, inits)
    with pytest.raises(ModelFormatError) as err:
        convert(model, tmp_path / "bad.slm")
    assert f"'{node.name}'" in str(err.value) and field in str(err.value) and f"opset {opset}" in str(err.value)
    assert not (tmp_path / "bad.slm").exists()


def test_torch_dynamo_export_at_the_newest_opset_matches_onnxruntime(tmp_path):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    import onnxruntime as ort

    # the newest opset torch's exporter writes (it refuses higher ones); channel split and SE reductions
    # are the ops whose form changed at 18
    torch.manual_seed(0)
    model = torchvision.models.shufflenet_v2_x0_5().eval()
    x = torch.randn(1, 3, 64, 64)
    onnx_path = tmp_path / "shufflenet.onnx"
    opset = min(NEWEST, 23)
    torch.onnx.export(model, (x,), onnx_path, dynamo=True, opset_version=opset, external_data=False,
                      verbose=False)
    written = onnx.load(onnx_path)
    assert written.opset_import[0].version == opset
    report = convert(onnx_path, tmp_path / "shufflenet.slm")
    assert report.opset.startswith(f"{opset} -> {ENGINE_OPSET}") and "Split" in report.opset
    name = written.graph.input[0].name
    want = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {name: x.numpy()})[0]
    for threads in (1, 2):
        got = engine.Session(tmp_path / "shufflenet.slm", threads=threads).run(None, {name: x.numpy()})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_function_op_whose_body_the_engine_cannot_run_is_named_as_itself(tmp_path):
    # expanded, the body's ops would be the ones reported; the user wrote the function op
    node = helper.make_node("Mish", ["x"], ["y"], name="act")
    model = _model([node], {"x": (TensorProto.FLOAT, [4])}, ["y"], 18)
    matrix = {k: v for k, v in engine.supported_ops().items() if k not in ("Mish", "Tanh")}
    with pytest.raises(ModelFormatError, match="Mish") as err:
        convert(model, tmp_path / "m.slm", supported_ops=matrix)
    assert "act" in str(err.value) and "Tanh" not in str(err.value)
