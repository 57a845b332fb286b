"""to_onnx: checked, verified, atomically written, dynamic batch from one file."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from export import ExportVerificationError, to_onnx


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(self.drop(y.mean((2, 3))))


def _run(path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def test_export_small_model_matches_torch_and_restores_mode(tmp_path):
    torch.manual_seed(0)
    model = _Tiny().train()
    x = torch.randn(2, 3, 8, 8)
    path = to_onnx(model, x, tmp_path / "sub" / "tiny.onnx")
    assert path.is_file() and model.training, "training mode must be restored"
    proto = onnx.load(path)
    assert proto.opset_import[0].version >= 17
    assert not list(tmp_path.glob("sub/.*tmp")), "temporary file left behind"
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    np.testing.assert_allclose(_run(path, x.numpy()), ref, rtol=1e-4, atol=1e-5)


def test_dynamic_batch_runs_batch_1_and_3_from_one_file(tmp_path):
    torch.manual_seed(1)
    model = _Tiny().eval()
    path = to_onnx(model, torch.randn(2, 3, 8, 8), tmp_path / "dyn.onnx")
    dim0 = onnx.load(path).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch"
    for batch in (1, 3):
        x = torch.randn(batch, 3, 8, 8)
        with torch.no_grad():
            ref = model(x).numpy()
        out = _run(path, x.numpy())
        assert out.shape == (batch, 5)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_dynamic_hw_and_static_batch(tmp_path):
    model = _Tiny().eval()
    path = to_onnx(model, torch.randn(1, 3, 8, 8), tmp_path / "hw.onnx", dynamic_batch=False, dynamic_hw=True)
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 1 and dims[2].dim_param == "height" and dims[3].dim_param == "width"
    assert _run(path, np.random.rand(1, 3, 12, 10).astype(np.float32)).shape == (1, 5)


class _NonDeterministic(nn.Module):
    # eval-mode randomness cannot be captured in a graph: verification must notice
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.rand_like(x) * 10


def test_verification_failure_is_reported_and_nothing_written(tmp_path):
    with pytest.raises(ExportVerificationError, match="rtol"):
        to_onnx(_NonDeterministic(), torch.randn(2, 3), tmp_path / "bad.onnx")
    assert not list(tmp_path.iterdir())


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        to_onnx(_Tiny(), torch.randn(1, 3, 8, 8), tmp_path / "x.onnx", opset=13)
    with pytest.raises(ValueError, match="input_names"):
        to_onnx(_Tiny(), torch.randn(1, 3, 8, 8), tmp_path / "x.onnx", input_names=("a", "b"))
