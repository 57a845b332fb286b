"""1-D convolutions run as 2-D ones of unit height (export/lowering.py), checked on a torch model against ORT."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from export.converter import convert

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")


class TemporalNet(torch.nn.Module):
    """Keyword-spotting style: strided, dilated, depthwise and transposed 1-D convolutions with a bias."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv1d(40, 32, 5, stride=2, padding=2)
        self.dilated = torch.nn.Conv1d(32, 32, 3, padding=2, dilation=2)
        self.depthwise = torch.nn.Conv1d(32, 32, 3, padding=1, groups=32, bias=False)
        self.up = torch.nn.ConvTranspose1d(32, 16, 4, stride=2, padding=1, output_padding=0)
        self.head = torch.nn.Conv1d(16, 12, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        h = torch.relu(self.dilated(h)) + h
        h = self.depthwise(h)
        return self.head(torch.relu(self.up(h))).mean(-1)


@pytest.mark.parametrize("optimize", [False, True])
def test_temporal_convolutions_match_onnxruntime(optimize, tmp_path):
    torch.manual_seed(0)
    model = TemporalNet().eval()
    x = torch.randn(2, 40, 101)
    onnx_path = tmp_path / "tcn.onnx"
    torch.onnx.export(model, (x,), onnx_path, input_names=["x"], opset_version=17, dynamo=False)
    report = convert(onnx_path, tmp_path / "tcn.slm", optimize=optimize)
    assert "as 2-D ops: Conv x4, ConvTranspose x1" in report.opset
    want = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    for threads in (1, 2):
        got = engine.Session(tmp_path / "tcn.slm", threads=threads).run(None, {"x": x.numpy()})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
