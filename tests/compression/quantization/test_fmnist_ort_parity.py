"""Issue #5 on real data: on Fashion-MNIST test images, ONNX Runtime's top-1 on the exported QDQ model equals
the fake-quantized PyTorch model's for per-tensor and per-channel int8 MobileNetV2, ShuffleNetV2 and
MobileViT-XXS.

The issue's bound is 0.1 pp on the full test set with trained models (measured by
``experiments.compress`` runs, reported with the issue). On a subset of a few hundred images one image is
already 0.5 pp, and these barely trained models have many near-ties, where the rare one-step
requantization differences that remain between ORT's fused int8 kernels and the simulation (its
``acc * (s_x*s_w/s_y)`` product order, see ``compression.quantization.spec``) can flip an argmax. So the
subset bound is one image of top-1 and 99% agreement of the predictions.

Random weights give near-constant predictions, where top-1 parity says little; each model is therefore
trained for a few dozen steps (enough to beat chance clearly, far from converged) on a reduced subset, at the
geometry its ``configs/model/<family>.yaml`` uses on Fashion-MNIST.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from compression.quantization import QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model
from configs.schema import DataConfig
from configs.schema.model import ModelConfig
from experiments.data import build_data
from experiments.models import build_model
from export.qdq import export_qdq

MODEL_CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "model"
FAMILIES = ("mobilenetv2", "shufflenetv2", "mobilevit")
NUM_CLASSES = 10
TRAIN_STEPS = 20
BATCH = 16
# batches of training images that re-estimate the BatchNorm statistics, and that calibrate the quantizers
STATS_BATCHES = 8
CALIBRATION_BATCHES = 4
TEST_IMAGES = 200
# chance is 10%; a model this far above it has class-dependent outputs, so argmax parity is meaningful
MIN_FP32_TOP1 = 30.0
MAX_TOP1_DIFF_PP = 100.0 / TEST_IMAGES  # one image
MIN_AGREEMENT = 0.99


def _model_config(family: str):
    """The family's Fashion-MNIST config (name, channels, input size, small_input) over the schema defaults."""
    raw = OmegaConf.load(MODEL_CONFIGS / f"{family}.yaml")
    raw.pop("defaults", None)
    return OmegaConf.merge(OmegaConf.structured(ModelConfig), raw)


def _data(image_size: int):
    cfg = OmegaConf.structured(DataConfig(
        name="fashion_mnist", image_size=image_size, channels=1, batch_size=BATCH, eval_batch_size=TEST_IMAGES,
        limit_train=TRAIN_STEPS * BATCH, limit_eval=TEST_IMAGES,
    ))
    return build_data(cfg)


def _train_briefly(model: nn.Module, loader) -> nn.Module:
    # Adam: with this few steps SGD's usable learning rate differs per family (diverges or stalls)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return _reestimate_batchnorm(model, loader)


@torch.no_grad()
def _reestimate_batchnorm(model: nn.Module, loader) -> nn.Module:
    # after a few dozen steps the running averages still carry the initial weights' statistics, which
    # makes eval-mode predictions near constant; a plain average under the final weights fixes that
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for i, (x, _) in enumerate(loader):
        if i == STATS_BATCHES:
            break
        model(x)
    return model.eval()


@pytest.fixture(scope="module", params=FAMILIES)
def trained(request):
    """(family, fp32 model, data, fp32 top-1 on the test images), shared by the per-tensor and per-channel
    tests of a family."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the module fixture runs outside the per-test single-thread fixture
    try:
        model_cfg = _model_config(request.param)
        data = _data(model_cfg.input_size)
        model = _train_briefly(build_model(model_cfg, num_classes=NUM_CLASSES), data.train_loader)
        x, y = next(iter(data.test_loader))
        with torch.no_grad():
            fp32_top1 = 100.0 * float((model(x).argmax(1) == y).float().mean())
    finally:
        torch.set_num_threads(threads)
    return request.param, model, data, fp32_top1


@pytest.mark.slow
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_onnxruntime_top1_equals_fake_quant_top1_on_fashion_mnist(tmp_path, trained, per_channel):
    family, model, data, fp32_top1 = trained
    x, y = next(iter(data.test_loader))
    assert len(y) == TEST_IMAGES
    assert fp32_top1 > MIN_FP32_TOP1, f"{family}: fp32 top-1 {fp32_top1:.1f}% is too close to chance"

    weight = TensorQuant(QuantSpec(8, symmetric=True, signed=True, per_channel=per_channel))
    qmodel, _ = quantize_model(model, QuantConfig(weight=weight), x[:2])
    calibrate(qmodel, data.train_loader, CALIBRATION_BATCHES)
    path = export_qdq(qmodel, x[:1], tmp_path / "model.qdq.onnx").path

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the default optimizations stay on: this is the runtime users deploy on
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ort_pred = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0].argmax(1)
    with torch.no_grad():  # inference: the fake-quantized model sums integer codes exactly, as ORT's kernels do
        torch_pred = qmodel(x).argmax(1).numpy()
    labels = y.numpy()
    ort_top1 = 100.0 * float(np.mean(ort_pred == labels))
    torch_top1 = 100.0 * float(np.mean(torch_pred == labels))
    agreement = float(np.mean(ort_pred == torch_pred))
    # `python -m experiments.parity` names the first layer that diverges
    assert abs(ort_top1 - torch_top1) <= MAX_TOP1_DIFF_PP, (
        f"{family} per_channel={per_channel}: ORT {ort_top1:.2f}% vs fake-quant {torch_top1:.2f}% "
        f"(predictions agree on {agreement:.1%})"
    )
    assert agreement >= MIN_AGREEMENT, f"{family} per_channel={per_channel}: predictions agree on {agreement:.1%}"
