import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper

from compression.quantization import LayerOverride, QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model
from configs.registry import UnknownNameError
from export import to_onnx
from export.qdq import METADATA_KEY, QDQExportError, export_qdq
from export.qdq.compact import compact
from lightweight_models import create_model
from measure.parity import check_parity
from tests.compression.quantization.helpers import SmallNet, randomize_bn


def calibrated(config, width=16, seed=0):
    torch.manual_seed(seed)
    model = randomize_bn(SmallNet(width))
    x = torch.randn(32, 1, 12, 12)
    qmodel, _ = quantize_model(model, config, x)
    calibrate(qmodel, x.split(8), 4)
    return model, qmodel, x


def run_ort(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0]


@pytest.mark.parametrize("per_channel", [False, True])
def test_onnxruntime_matches_the_fake_quantized_model(tmp_path, per_channel):
    config = QuantConfig()
    config.weight = type(config.weight)(config.weight.spec.__class__(8, True, True, per_channel))
    _, qmodel, x = calibrated(config)
    report = export_qdq(qmodel, x[:1], tmp_path / "m.onnx")
    proto = onnx.load(report.path)
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    dq = [n for n in proto.graph.node if n.op_type == "DequantizeLinear"]
    dq_axes = [a.i for n in dq for a in n.attribute if a.name == "axis"]
    assert (len(dq_axes) > 0) == per_channel
    got = run_ort(report.path, x)
    with torch.no_grad():
        ref = qmodel(x).numpy()
    assert (got.argmax(1) == ref.argmax(1)).all()
    parity = check_parity(qmodel, report.path, x)
    assert parity.first_divergent is None, parity.format()
    assert len(parity.layers) == len(report.activation_outputs) > 0
    assert max(lp.max_steps for lp in parity.layers) <= 1.001


def test_int8_weights_shrink_the_file(tmp_path):
    # large enough that graph structure and per-channel scales do not dominate, as in real models
    model, qmodel, x = calibrated(QuantConfig(), width=128)
    fp32 = to_onnx(model, x[:1], tmp_path / "fp32.onnx")
    report = export_qdq(qmodel, x[:1], tmp_path / "int8.onnx")
    ratio = report.file_bytes / fp32.stat().st_size
    assert ratio <= 0.27, ratio
    dtypes = {init.data_type for init in onnx.load(report.path).graph.initializer if len(init.dims) == 4}
    assert dtypes == {onnx.TensorProto.INT8}


def test_int4_weights_are_packed_at_opset_21(tmp_path):
    config = QuantConfig(overrides={"pw.0": LayerOverride(weight_bits=4)})
    _, qmodel, x = calibrated(config)
    report = export_qdq(qmodel, x[:1], tmp_path / "w4.onnx")
    proto = onnx.load(report.path)
    assert report.opset == 21
    int4 = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT4]
    assert int4 and int4[0].dims[0] == 64
    got = run_ort(report.path, x)
    with torch.no_grad():
        ref = qmodel(x).numpy()
    assert np.max(np.abs(got - ref)) <= 0.05 * np.max(np.abs(ref))


def test_uncalibrated_model_is_refused(tmp_path):
    qmodel, _ = quantize_model(SmallNet(), QuantConfig(), torch.randn(1, 1, 8, 8))
    with pytest.raises(QDQExportError, match="calibrate"):
        export_qdq(qmodel, torch.randn(1, 1, 8, 8), tmp_path / "m.onnx")


def test_depthwise_and_conv_transpose_export_their_channel_axes(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 6, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(6, 6, 3, padding=1, groups=6), torch.nn.ReLU(),   # depthwise: weight [6, 1, 3, 3]
        torch.nn.ConvTranspose2d(6, 4, 2, stride=2),                      # weight [6, 4, 2, 2], axis 1
    ).eval()
    x = torch.randn(8, 2, 6, 6)
    qmodel, _ = quantize_model(model, QuantConfig(functional=False), x)
    calibrate(qmodel, [x], 1)
    path = export_qdq(qmodel, x[:1], tmp_path / "m.onnx").path
    proto = onnx.load(path)
    inits = {i.name: i for i in proto.graph.initializer}
    axes = {}
    for n in proto.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            axis = next(a.i for a in n.attribute if a.name == "axis")
            axes[tuple(inits[n.input[0]].dims)] = axis
    assert axes == {(6, 2, 3, 3): 0, (6, 1, 3, 3): 0, (6, 4, 2, 2): 1}
    with torch.no_grad():
        ref = qmodel(x).numpy()
    got = run_ort(path, x)
    # a rounding tie resolved differently moves one activation by one step: small against the output
    assert np.max(np.abs(got - ref)) <= 1e-2 * np.max(np.abs(ref))
    assert check_parity(qmodel, path, x).first_divergent is None


def _const(name, value):
    return helper.make_node("Constant", [], [name], name=f"/{name}/Constant", value=numpy_helper.from_array(value))


def _two_quantizers_of_one_value():
    """x read by two activation quantizers with equal parameters (as after a ReLU feeding a conv and a
    residual), one per-channel weight with zero zero points, a bias shared through an Identity."""
    w = numpy_helper.from_array(np.array([[[[3]]], [[[-5]]]], np.int8), "w")
    bias = numpy_helper.from_array(np.array([0.5, -0.25], np.float32), "bias")
    nodes = [_const(n, v) for n, v in [("sa", np.array(0.05, np.float32)), ("za", np.array(7, np.uint8)),
                                       ("sb", np.array(0.05, np.float32)), ("zb", np.array(7, np.uint8)),
                                       ("sw", np.array([0.1, 0.2], np.float32)), ("zw", np.zeros(2, np.int8))]]
    nodes += [
        helper.make_node("QuantizeLinear", ["x", "sa", "za"], ["qa"], name="/a/Q"),
        helper.make_node("DequantizeLinear", ["qa", "sa", "za"], ["da"], name="/a/DQ"),
        helper.make_node("QuantizeLinear", ["x", "sb", "zb"], ["qb"], name="/b/Q"),
        helper.make_node("DequantizeLinear", ["qb", "sb", "zb"], ["db"], name="/b/DQ"),
        helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["dw"], name="/w/DQ", axis=0),
        helper.make_node("Identity", ["bias"], ["bias_again"], name="/bias/Identity"),
        helper.make_node("Conv", ["da", "dw", "bias_again"], ["ca"], name="/conv_a", group=2),
        helper.make_node("Conv", ["db", "dw", "bias"], ["cb"], name="/conv_b", group=2),
        helper.make_node("Add", ["ca", "cb"], ["y"], name="/add"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2, 3, 3])], [w, bias])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ort(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_compaction_keeps_what_the_graph_computes_and_its_quantizers_apart():
    model = _two_quantizers_of_one_value()
    x = np.random.default_rng(0).normal(size=(1, 2, 3, 3)).astype(np.float32)
    before = _ort(model, x)
    renames = compact(model)
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(_ort(model, x), before)
    nodes = model.graph.node
    assert not {"Constant", "Identity"} & {n.op_type for n in nodes}
    assert not any(n.name for n in nodes)
    weight_dq = next(n for n in nodes if n.op_type == "DequantizeLinear" and n.input[0] == renames["w"])
    assert len(weight_dq.input) == 2 and weight_dq.attribute[0].i == 0  # zero zero point gone, axis kept
    # equal scales are stored once; each activation quantizer keeps its own zero point (see omit_zero_points)
    assert renames["sa"] == renames["sb"] and renames["za"] != renames["zb"]
    assert all(len(n.input) == 3 for n in nodes if n.op_type == "QuantizeLinear")
    # a renamed value (what the quantizer map records) is still produced by a node
    assert renames["db"] in {o for n in nodes for o in n.output}
    assert max(len(v) for v in renames.values()) == 1


def test_compaction_refuses_unknown_names_and_subgraphs(tmp_path):
    with pytest.raises(UnknownNameError, match="drop_identitys"):
        compact(_two_quantizers_of_one_value(), ("drop_identities", "drop_identitys"))
    _, qmodel, x = calibrated(QuantConfig())
    with pytest.raises(UnknownNameError, match="QDQ compaction"):
        export_qdq(qmodel, x[:1], tmp_path / "m.onnx", compactions=("short_names",))
    with pytest.raises(TypeError, match="sequence of names"):
        export_qdq(qmodel, x[:1], tmp_path / "m.onnx", compactions="short_value_names")
    branch = helper.make_graph([], "b", [], [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])])
    looped = helper.make_model(helper.make_graph(
        [helper.make_node("If", ["c"], ["o"], then_branch=branch, else_branch=branch)], "g",
        [helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("o", onnx.TensorProto.FLOAT, [1])]))
    with pytest.raises(ValueError, match="subgraphs"):
        compact(looped)


def _initializer_keys(graph):
    return [(t.data_type, tuple(t.dims), numpy_helper.to_array(t).tobytes()) for t in graph.initializer]


def test_compact_export_has_no_redundant_structure_and_runs_the_same(tmp_path):
    _, qmodel, x = calibrated(QuantConfig())
    plain = export_qdq(qmodel, x[:1], tmp_path / "plain.onnx", compactions=())
    report = export_qdq(qmodel, x[:1], tmp_path / "m.onnx")
    assert report.file_bytes < 0.85 * plain.file_bytes
    # ONNX Runtime (with its graph optimizations) computes bit for bit what it did on the plain export
    np.testing.assert_array_equal(run_ort(report.path, x), run_ort(plain.path, x))
    graph = onnx.load(report.path).graph
    assert not {"Constant", "Identity"} & {n.op_type for n in graph.node}
    assert not any(n.name for n in graph.node)
    inits = {t.name: t for t in graph.initializer}
    weight_dqs = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert len(weight_dqs) == report.integer_weights == 4
    assert all(len(n.input) == 2 for n in weight_dqs)  # symmetric int8 weights: zero points are the default
    activation_zps = {n.input[2] for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                      and n.input[0] not in inits}
    keys = [k for t, k in zip(graph.initializer, _initializer_keys(graph)) if t.name not in activation_zps]
    assert len(keys) == len(set(keys))
    meta = json.loads(next(p.value for p in onnx.load(report.path).metadata_props if p.key == METADATA_KEY))
    assert meta == report.activation_outputs
    outputs = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    assert set(meta.values()) <= outputs
    assert check_parity(qmodel, report.path, x).first_divergent is None


@pytest.mark.slow
def test_mobilevit_int8_file_is_at_most_27_percent_of_fp32(tmp_path):
    # issue #5 reports the QDQ file next to the fp32 one at the Fashion-MNIST geometry; MobileViT-XXS, with
    # the most graph structure per weight byte of the zoo models, is the one closest to the bound
    model = create_model("mobilevit_xxs", num_classes=10, in_chans=1, small_input=True, input_size=32).eval()
    x = torch.randn(4, 1, 32, 32)
    config = QuantConfig(weight=TensorQuant(QuantSpec(8, True, True, per_channel=True)))
    qmodel, _ = quantize_model(model, config, x[:2])
    calibrate(qmodel, x.split(2), 2)
    fp32 = to_onnx(model, x[:1], tmp_path / "fp32.onnx", verify=False)  # verifying does not change the bytes
    report = export_qdq(qmodel, x[:1], tmp_path / "int8.onnx")
    ratio = report.file_bytes / fp32.stat().st_size
    assert ratio <= 0.27, f"{ratio:.4f} ({report.file_bytes} / {fp32.stat().st_size} bytes)"


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_bias_is_exported_on_the_int32_grid_of_input_times_weight_step(tmp_path, per_channel):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 4 * 4, 3)).eval()
    x = torch.randn(8, 2, 6, 6)
    weight = TensorQuant(QuantSpec(8, symmetric=True, signed=True, per_channel=per_channel))
    qmodel, _ = quantize_model(model, QuantConfig(weight=weight, functional=False), x)
    calibrate(qmodel, [x], 1)
    path = export_qdq(qmodel, x[:1], tmp_path / "m.onnx").path
    graph = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    biases = {inits[n.input[2]].shape: inits[n.input[2]] for n in graph.node if n.op_type in ("Conv", "Gemm")}
    assert set(biases) == {(4,), (3,)}
    for layer in (qmodel[0], qmodel[3]):
        step = (layer.input_quant.scale * layer.weight_quant.scale).double().numpy()
        codes = biases[tuple(layer.layer.bias.shape)].astype(np.float64) / step
        # integer codes (what ORT's QLinearConv adds to its accumulator), rounded from the float bias
        np.testing.assert_allclose(codes, np.rint(codes), atol=1e-3)
        np.testing.assert_array_equal(np.rint(codes), np.rint(layer.layer.bias.detach().double().numpy() / step))
        assert not np.array_equal(np.rint(codes) * step, layer.layer.bias.detach().double().numpy())
    with torch.no_grad():
        ref = qmodel(x).numpy()
    # the fake-quantized model adds exactly the exported bias, so the float graph agrees to float error
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.max(np.abs(got - ref)) <= 1e-5 * np.max(np.abs(ref))


def test_softmax_outputs_use_the_power_of_two_grid_that_ort_qlinearsoftmax_reproduces(tmp_path):
    # ORT fuses DQ -> Softmax -> Q into QLinearSoftmax, which multiplies by floor(1 / step): a calibrated step
    # (e.g. 0.97 / 255) biased the attention weights, and 77% of this block's outputs differed from PyTorch
    from lightweight_models.blocks.attention import MultiHeadSelfAttention

    torch.manual_seed(0)
    model = torch.nn.Sequential(MultiHeadSelfAttention(32, num_heads=4)).eval()
    batches = [torch.randn(8, 16, 32) * 2 for _ in range(4)]
    q, report = quantize_model(model, QuantConfig(), batches[0])
    assert report.probability_inputs == ["q_matmul_1.input_quants.0"]  # the traced Sequential inlines the block
    calibrate(q, batches, 4)
    grid = q.get_submodule(report.probability_inputs[0])
    assert float(grid.scale) == 1 / 256 and int(grid.zero_point) == 0
    path = tmp_path / "attn.onnx"
    export_qdq(q, batches[0][:1], path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ops = _optimized_ops(session_path=path, tmp_path=tmp_path)
    assert "QLinearSoftmax" in ops
    x = torch.randn(64, 16, 32) * 2
    with torch.no_grad():
        ref = q(x).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.mean(np.abs(got - ref) > 1e-5) < 0.01


def _optimized_ops(session_path, tmp_path) -> set[str]:
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(session_path), options, providers=["CPUExecutionProvider"])
    return {n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}


def test_probability_grid_refuses_values_outside_zero_one():
    from compression.quantization import CalibrationError
    from compression.quantization.calibrators import build_calibrator

    calibrator = build_calibrator("probability")
    calibrator.observe(torch.rand(100), None)
    lo, hi = calibrator.range(QuantSpec(8))
    assert float(lo) == 0 and float(hi) == 255 / 256
    with pytest.raises(CalibrationError, match="values in \\[0, 1\\].*observed"):
        calibrator.observe(torch.randn(100) * 3, None)
