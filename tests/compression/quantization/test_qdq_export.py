import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from compression.quantization import LayerOverride, QuantConfig, calibrate, quantize_model
from compression.quantization.parity import check_parity
from export import to_onnx
from export.qdq import QDQExportError, export_qdq
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
