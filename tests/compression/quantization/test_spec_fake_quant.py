import numpy as np
import pytest
import torch

from compression.quantization import FakeQuantize, QuantSpec, QuantSpecError
from compression.quantization.spec import compute_qparams, dequantize, quantize


def numpy_fake_quant(x, scale, zp, qmin, qmax):
    return (np.clip(np.rint(x / scale) + zp, qmin, qmax) - zp) * scale


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric,signed", [(True, True), (False, False), (False, True)])
def test_per_tensor_fake_quant_matches_numpy(bits, symmetric, signed):
    spec = QuantSpec(bits, symmetric=symmetric, signed=signed)
    x = torch.randn(4096) * 3 + (0 if symmetric else 1.0)
    q = FakeQuantize(spec)
    q(x)
    q.set_mode("frozen")
    got = q(x).numpy()
    ref = numpy_fake_quant(x.numpy(), q.scale.item(), q.zero_point.item(), spec.qmin, spec.qmax)
    np.testing.assert_allclose(got, ref, atol=1e-6 * q.scale.item() + 1e-7)
    assert np.unique(np.round(got / q.scale.item())).size <= spec.levels


def test_rounding_is_half_to_even():
    spec = QuantSpec(8, symmetric=True, signed=True)
    scale, zp = torch.tensor([0.25]), torch.tensor([0], dtype=torch.int32)
    x = torch.tensor([0.125, 0.375, -0.125, 0.625])  # exactly half a step: 0.5, 1.5, -0.5, 2.5
    codes = quantize(x, scale, zp, spec)
    assert codes.tolist() == [0, 2, 0, 2]
    fq = torch.fake_quantize_per_tensor_affine(x, scale, zp, spec.qmin, spec.qmax)
    assert torch.equal(fq, dequantize(codes, scale, zp))


def test_round_trip_error_is_at_most_half_a_step():
    spec = QuantSpec(8, symmetric=False)
    x = torch.rand(1000) * 5 - 1
    scale, zp = compute_qparams(spec, x.min(), x.max())
    back = dequantize(quantize(x, scale, zp, spec), scale, zp)
    assert float((back - x).abs().max()) <= float(scale) / 2 + 1e-6
    assert float(dequantize(quantize(torch.zeros(1), scale, zp, spec), scale, zp)) == 0.0  # zero is exact


def test_per_channel_matches_numpy_on_axis_1():
    spec = QuantSpec(4, symmetric=True, signed=True, per_channel=True)
    w = torch.randn(3, 5, 2, 2) * torch.tensor([0.1, 1, 3, 10, 0.5]).reshape(1, 5, 1, 1)
    q = FakeQuantize(spec, ch_axis=1)
    q(w)
    q.set_mode("frozen")
    assert q.scale.shape == (5,)
    ref = numpy_fake_quant(w.numpy(), q.scale.numpy().reshape(1, 5, 1, 1), 0, -8, 7)
    np.testing.assert_allclose(q(w).numpy(), ref, atol=1e-6)


@pytest.mark.parametrize("bits", [1, 9, 0, 2.5, True])
def test_bit_width_out_of_range_is_rejected(bits):
    with pytest.raises(QuantSpecError, match="bit width"):
        QuantSpec(bits)


def test_spec_ranges():
    assert (QuantSpec(8, signed=True).qmin, QuantSpec(8, signed=True).qmax) == (-128, 127)
    assert (QuantSpec(4).qmin, QuantSpec(4).qmax) == (0, 15)
    assert QuantSpec(8, signed=True, narrow_range=True).qmin == -127


def test_freeze_without_data_fails_clearly():
    q = FakeQuantize(QuantSpec(8))
    with pytest.raises(RuntimeError, match="observed no data"):
        q.set_mode("frozen")


def _calibrated_conv(per_channel: bool):
    from compression.quantization import QuantConfig, TensorQuant, calibrate, quantize_model

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 5, 3)
    x = torch.randn(4, 3, 6, 6)
    weight = TensorQuant(QuantSpec(8, symmetric=True, signed=True, per_channel=per_channel))
    qmodel, _ = quantize_model(torch.nn.Sequential(conv), QuantConfig(weight=weight, functional=False), x)
    calibrate(qmodel, [x], 1)
    return qmodel[0], x


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_bias_is_added_on_the_int32_grid_of_input_step_times_weight_step(per_channel):
    from compression.quantization.spec import quantize_bias

    layer, x = _calibrated_conv(per_channel)
    step = layer.input_quant.scale * layer.weight_quant.scale
    assert step.shape == ((5,) if per_channel else (1,))
    bias = layer.layer.bias.detach()
    codes = quantize_bias(bias, step)
    np.testing.assert_array_equal(codes.numpy(), np.rint(bias.double().numpy() / step.double().numpy()))
    # the integer runtime's computation: int32 accumulator of codes plus the bias codes, times the steps
    xq = torch.round(layer.input_quant(x) / layer.input_quant.scale)  # q - zero_point
    wq = torch.round(layer.weight_quant(layer.layer.weight) / layer.weight_quant.scale.reshape(-1, 1, 1, 1))
    acc = torch.nn.functional.conv2d(xq.double(), wq.double(), codes.double())
    with torch.no_grad():
        got = layer(x).double()
        float_bias = layer._op(layer.layer, layer.input_quant(x), layer.weight_quant(layer.layer.weight), bias)
    expected = acc * step.double().reshape(1, -1, 1, 1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert not torch.allclose(float_bias.double(), expected, rtol=0, atol=1e-7)


def test_bias_stays_float_while_calibrating_and_keeps_its_gradient():
    layer, x = _calibrated_conv(per_channel=True)
    layer.input_quant.set_mode("observe")
    assert layer.bias_step() is None
    assert layer.integer_bias(layer.layer.bias) is layer.layer.bias
    layer.input_quant.set_mode("frozen")
    layer.layer(x)  # untouched float layer still runs
    layer(x).sum().backward()
    # straight-through: d(sum)/d(bias) is the number of output positions per channel
    torch.testing.assert_close(layer.layer.bias.grad, torch.full((5,), 4.0 * 4 * 4))


def test_bias_without_quantized_input_is_left_float():
    from compression.quantization import QuantConfig, calibrate, quantize_model

    conv = torch.nn.Conv2d(3, 5, 3)
    x = torch.randn(2, 3, 6, 6)
    qmodel, _ = quantize_model(torch.nn.Sequential(conv), QuantConfig(activation=None, functional=False), x)
    calibrate(qmodel, [x], 1)
    assert qmodel[0].bias_step() is None
    torch.testing.assert_close(qmodel[0](x), conv._conv_forward(x, qmodel[0].weight_quant(conv.weight), conv.bias))


def test_quantized_matmul_sums_integer_codes_at_inference_and_keeps_its_gradient():
    from compression.quantization.fake_quant import FakeQuantize
    from compression.quantization.modules import QMatMul

    torch.manual_seed(0)
    mm = QMatMul()
    mm.configure(lambda: FakeQuantize(QuantSpec(8, symmetric=False, signed=False)))
    a, b = torch.randn(2, 4, 16, 24) * 3, torch.randn(2, 4, 24, 16)
    mm(a, b)  # observe
    for q in mm.input_quants:
        q.set_mode("frozen")
    sa, sb = (q.scale.double() for q in mm.input_quants)
    codes = [torch.round(q(t).double() / s) for q, t, s in zip(mm.input_quants, (a, b), (sa, sb))]
    assert all(c.abs().max() <= 255 for c in codes)
    expected = (codes[0].numpy().astype(np.int64) @ codes[1].numpy().astype(np.int64)) * float(sa * sb)
    with torch.no_grad():
        got = mm(a, b)
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-6, atol=0)
    a.requires_grad_(True)
    mm(a, b).sum().backward()  # training keeps the float product and its straight-through gradient
    assert a.grad is not None and a.grad.abs().sum() > 0
