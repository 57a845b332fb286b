"""measure's int8 reference files: ONNX Runtime's quantize_static QDQ file, and the engine's integer conversion of
that same file, so an int8 benchmark compares engines on one model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from measure import export_model, open_runner


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU6(),
        nn.Conv2d(16, 32, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ).eval()


def test_int8_export_gives_one_qdq_file_and_its_integer_engine_file(tmp_path):
    x = torch.randn(1, 3, 32, 32)
    fp32 = export_model(_model(), x, tmp_path, "m")
    int8 = export_model(_model(), x, tmp_path, "m", precision="int8")
    ops = {n.op_type for n in onnx.load(str(int8.onnx)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and int8.slm.name == "m.int8.slm"
    # the engine runs the convolutions in integers
    counts = int8.report.ops_after
    assert counts["QLinearConv"] == 3 and counts["Conv"] == 0
    assert int8.slm.stat().st_size < fp32.slm.stat().st_size
    feeds = {"input": np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    ort, eng = open_runner("onnxruntime", int8.onnx), open_runner("slimlab", int8.slm)
    name = ort.input_names[0]
    (want,), (got,) = ort.run({name: feeds["input"]}), eng.run({eng.input_names[0]: feeds["input"]})
    assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, float(np.max(np.abs(want))))


def test_unknown_precision_is_refused(tmp_path):
    with pytest.raises(ValueError, match="precision must be"):
        export_model(_model(), torch.randn(1, 3, 32, 32), tmp_path, "m", precision="int4")
