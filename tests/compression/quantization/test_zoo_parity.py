"""QDQ export of zoo models where quantization is hardest (channel shuffle, attention matmuls/softmax
in a model torch.fx cannot trace whole): ONNX Runtime agrees with the fake-quantized model."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from compression.quantization import QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model
from export.qdq import export_qdq
from lightweight_models import create_model


@pytest.mark.slow
@pytest.mark.parametrize("name,per_channel", [("shufflenetv2_x0_5", False), ("mobilevit_xxs", True)])
def test_zoo_model_qdq_matches_onnxruntime(tmp_path, name, per_channel):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_chans=1, small_input=True, input_size=28).eval()
    x = torch.randn(32, 1, 28, 28)
    config = QuantConfig(weight=TensorQuant(QuantSpec(8, True, True, per_channel=per_channel)))
    qmodel, report = quantize_model(model, config, x[:2])
    assert report.quantized_functional  # add/cat (and matmul/softmax for MobileViT) carry quantizers
    calibrate(qmodel, x.split(16), 2)
    path = export_qdq(qmodel, x[:1], tmp_path / "m.onnx").path
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = qmodel(x).numpy()
    assert (got.argmax(1) == ref.argmax(1)).mean() == 1.0
    assert np.max(np.abs(got - ref)) <= 0.02 * np.max(np.abs(ref))
