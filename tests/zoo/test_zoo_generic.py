"""Contract every registered zoo model must meet, parametrized over list_models().

Each test is kept small (32 px training step, one export per setting) because
the whole zoo (~22 models) runs them in CI on 2 cores.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from export import to_onnx
from lightweight_models import create_model, list_models, model_info
from lightweight_models.complexity import profile

MODEL_NAMES = list_models()
SMALL_INPUT = {"small_input": True, "input_size": 32, "in_chans": 1, "num_classes": 10}
ONNX_RTOL = 1e-4


@pytest.fixture(autouse=True)
def _one_thread():
    # CI shares 2 cores between workers; more threads only add contention
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _imagenet_setting(name: str) -> tuple[dict, tuple[int, int, int]]:
    size = model_info(name)["default_input"]
    return {"small_input": False, "input_size": size, "in_chans": 3, "num_classes": 1000}, (3, size, size)


def _small_setting(name: str) -> tuple[dict, tuple[int, int, int]]:
    return dict(SMALL_INPUT), (1, 32, 32)


SETTINGS = {"imagenet": _imagenet_setting, "small": _small_setting}


def test_zoo_is_not_empty():
    assert "simple_cnn" in MODEL_NAMES


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_backward_small_input(name):
    model = create_model(name, **SMALL_INPUT).train()
    out = model(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 10)
    loss = F.cross_entropy(out, torch.tensor([3, 7]))
    assert torch.isfinite(loss)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without a gradient: {no_grad[:10]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:10]}"


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_onnx_export_matches_pytorch_at_two_batch_sizes(name, setting, tmp_path):
    kwargs, chw = SETTINGS[setting](name)
    model = create_model(name, **kwargs).eval()
    path = to_onnx(model, torch.randn(1, *chw), tmp_path / f"{name}.onnx", dynamic_batch=True, opset=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    # the same file at batch 1 and 3 proves the batch dimension is really dynamic
    for batch in (1, 3):
        x = torch.randn(batch, *chw)
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = session.run(None, {input_name: x.numpy()})
        assert got.shape == expected.shape == (batch, kwargs["num_classes"])
        rel = float(np.max(np.abs(got - expected))) / float(np.max(np.abs(expected)))
        assert rel <= ONNX_RTOL, f"batch {batch}: relative error {rel:.2e}"


@pytest.mark.parametrize("width_mult", [0, -0.5])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_nonpositive_width_mult_is_rejected(name, width_mult):
    with pytest.raises(ValueError, match="width_mult"):
        create_model(name, width_mult=width_mult)


@pytest.mark.parametrize("small_input", [False, True])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_input_size_below_total_stride_is_rejected(name, small_input):
    stride = create_model(name, small_input=small_input).total_stride
    with pytest.raises(ValueError, match="input_size"):
        create_model(name, small_input=small_input, input_size=stride - 1)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_complexity_tables_add_up_to_totals(name):
    model = create_model(name, **SMALL_INPUT)
    report = profile(model, (1, 1, 32, 32))
    assert report.params == sum(p.numel() for p in model.parameters())
    assert report.macs > 0
    for rows in (report.layers, report.blocks):
        assert sum(r.params for r in rows) == report.params
        assert sum(r.macs for r in rows) == report.macs
        assert sum(r.memory_access_cost or 0 for r in rows) == report.memory_access_cost
    # the input and the logits are both live at some point, and nothing is negative
    assert report.peak_activation_bytes >= 32 * 32 * 4
