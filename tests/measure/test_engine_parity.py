"""measure.parity with the bundled engine as the backend: the integer graph the engine really runs (after the
converter folded each DequantizeLinear -> op -> QuantizeLinear group), read through keep_intermediates."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from compression.quantization import QuantConfig, calibrate, quantize_model
from export.qdq import export_qdq
from measure.parity import check_parity
from tests.compression.quantization.helpers import SmallNet, randomize_bn


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize_bn(SmallNet(16))
    x = torch.randn(32, 1, 12, 12)
    qmodel, _ = quantize_model(model, QuantConfig(), x)
    calibrate(qmodel, x.split(8), 4)
    path = export_qdq(qmodel, x[:1], tmp_path_factory.mktemp("parity") / "m.onnx").path
    return qmodel, path, x


def test_the_engine_computes_what_the_simulation_does(quantized):
    qmodel, path, x = quantized
    engine_report = check_parity(qmodel, path, x, backend="slimlab")
    ort_report = check_parity(qmodel, path, x, backend="onnxruntime")
    assert engine_report.first_divergent is None, engine_report.format()
    # every quantized activation is read from the engine's integer graph, none is skipped
    assert not engine_report.unobserved
    assert [lp.name for lp in engine_report.layers] == [lp.name for lp in ort_report.layers]
    assert max(lp.max_steps for lp in engine_report.layers) <= 1.001
    assert engine_report.top1_agreement == 1.0


def test_a_wrong_weight_is_located_at_the_layer_it_feeds(quantized, tmp_path):
    qmodel, path, x = quantized
    proto = onnx.load(str(path))
    # negate the int8 weights of the first convolution: everything from its output on is wrong
    first_conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    producers = {o: n for n in proto.graph.node for o in n.output}
    weight = producers[first_conv.input[1]].input[0]
    init = next(i for i in proto.graph.initializer if i.name == weight)
    init.CopyFrom(numpy_helper.from_array((-numpy_helper.to_array(init).astype(np.int16)).clip(-127, 127)
                                          .astype(np.int8), weight))
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, bad)
    report = check_parity(qmodel, bad, x, backend="slimlab")
    names = [lp.name for lp in report.layers]
    # the input of the first convolution is still right; the first activation computed from its output is not
    assert report.layers[0].max_steps <= 1.001
    assert report.first_divergent is not None and names.index(report.first_divergent) >= 1
