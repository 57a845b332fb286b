import numpy as np
import pytest
import torch
from torch import nn

from compression.quantization import QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model, set_quant_mode
from compression.quantization.binary import BinaryWeight, binarize_model
from compression.quantization.insert import UnsupportedLayerError
from compression.quantization.mixed_precision import Sensitivity, assign_bits, layer_sensitivity
from compression.quantization.qat import FreezeBatchNorm, QuantizedConvBn, attach_batchnorm, distillation_loss
from tests.compression.quantization.helpers import SmallNet, randomize_bn

W8 = TensorQuant(QuantSpec(8, True, True, per_channel=True))


def test_folded_bn_qat_matches_folding_in_eval_and_freezes():
    torch.manual_seed(0)
    model = randomize_bn(SmallNet(8))
    x = torch.randn(8, 1, 10, 10)
    q, _ = quantize_model(model, QuantConfig(fold_bn=False), x)
    assert attach_batchnorm(q) == 3
    calibrate(q, [x], 1)
    q.train()
    set_quant_mode(q, "track")
    convbn = q.get_submodule("stem.0")
    assert isinstance(convbn, QuantizedConvBn)
    mean_before = convbn.bn.running_mean.clone()
    q(x)
    assert not torch.equal(convbn.bn.running_mean, mean_before)  # statistics still update
    FreezeBatchNorm(1).on_epoch_start(1, q)
    frozen = convbn.bn.running_mean.clone()
    q(x)
    assert torch.equal(convbn.bn.running_mean, frozen)
    q.eval()
    with torch.no_grad():
        out = q(x)
        convbn.fold_for_deploy()
        assert type(convbn).__name__ == "QuantizedLayer"
        torch.testing.assert_close(q(x), out, rtol=1e-4, atol=1e-4)


def test_distillation_loss_is_ce_at_weight_zero_and_kl_at_one():
    torch.manual_seed(0)
    teacher = nn.Linear(4, 3)
    x, y, logits = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]), torch.randn(5, 3)
    ce = nn.functional.cross_entropy(logits, y)
    assert torch.isclose(distillation_loss(teacher, 0.0, 2.0)(logits, y, x), ce)
    assert float(distillation_loss(teacher, 1.0, 2.0)(teacher(x).detach(), y, x)) == pytest.approx(0.0, abs=1e-6)


def test_sensitivity_table_and_budgeted_assignment():
    torch.manual_seed(0)
    model = randomize_bn(SmallNet(8))
    x = torch.randn(8, 1, 10, 10)
    rows = layer_sensitivity(model, W8, [8, 4, 2], x, accuracy=lambda m: 50.0)
    assert len(rows) == 4 * 3
    by = {(r.layer, r.bits): r for r in rows}
    assert all(by[n, 8].sqnr_db > by[n, 2].sqnr_db for n, _ in by)
    params = {r.layer: r.params for r in rows}
    budget = sum(params.values()) * 5 / 8  # on average 5 bits
    bits = assign_bits(rows, budget)
    assert sum(params[n] * b / 8 for n, b in bits.items()) <= budget
    assert set(bits.values()) <= {8, 4, 2} and len(set(bits.values())) > 1
    with pytest.raises(ValueError, match="unreachable"):
        assign_bits(rows, sum(params.values()) * 1 / 8)


def test_assignment_lowers_the_least_sensitive_layer_first():
    rows = [Sensitivity("a", 100, 8, 0, 40), Sensitivity("a", 100, 4, 0, 30),
            Sensitivity("b", 100, 8, 0, 40), Sensitivity("b", 100, 4, 0, 10)]
    assert assign_bits(rows, budget_bytes=150) == {"a": 4, "b": 8}


@pytest.mark.parametrize("kind,levels", [("xnor", 2), ("bnn", 2), ("twn", 3)])
def test_binary_and_ternary_weights(kind, levels):
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    q = BinaryWeight(kind, 0, 4)
    out = q(w)
    for c in range(4):
        assert len(torch.unique(out[c].detach())) <= levels
    if kind == "xnor":
        torch.testing.assert_close(out[0].abs().detach(), w[0].abs().mean().detach().expand(3, 3, 3))
    out.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0  # straight-through gradient reaches the weights


def test_binary_keeps_first_and_last_and_names_unsupported_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ConvTranspose2d(4, 4, 2), nn.Conv2d(4, 4, 3), nn.Flatten(),
                          nn.LazyLinear(3))
    x = torch.randn(1, 1, 8, 8)
    model(x)
    q, _ = quantize_model(model, QuantConfig(weight=W8, functional=False), x)
    with pytest.raises(UnsupportedLayerError, match="'1' is a ConvTranspose2d"):
        binarize_model(q, "xnor", {"0", "4"}, None)
    q2, _ = quantize_model(model, QuantConfig(weight=W8, functional=False), x)
    assert binarize_model(q2, "twn", {"0", "1", "4"}, None) == ["2"]


def _np_sign(a):
    return np.where(a >= 0, 1.0, -1.0)


def _np_xnor_conv(x, w, b, stride, pad):
    """Rastegari et al. eq. 11 written out: (sign(I) conv sign(W)) * K * alpha + b, K by explicit windows."""
    n, c, h, width = x.shape
    o, _, k, _ = w.shape
    alpha = np.abs(w).reshape(o, -1).mean(1)
    padding = ((0, 0), (0, 0), (pad, pad), (pad, pad))
    # the convolution pads its binary input with zeros, and K counts those zeros in each window's mean
    signs = np.pad(_np_sign(x), padding)
    a = np.abs(np.pad(x, padding)).mean(1)
    oh, ow = (h + 2 * pad - k) // stride + 1, (width + 2 * pad - k) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
            kij = a[:, rows, cols].mean((1, 2))
            binary = np.einsum("nchw,ochw->no", signs[:, :, rows, cols], _np_sign(w))
            out[:, :, i, j] = binary * kij[:, None] * alpha[None, :] + b[None, :]
    return out


EXAMPLE_SHAPE = {nn.Conv2d: (3, 7, 7), nn.Linear: (6,)}


def _single_binary_layer(layer, variant):
    example = torch.randn(1, *EXAMPLE_SHAPE[type(layer)])
    q, _ = quantize_model(nn.Sequential(layer), QuantConfig(weight=W8, activation=None, functional=False), example)
    assert binarize_model(q, variant, set(), None) == ["0"]
    return q


@pytest.mark.parametrize("groups,out_channels", [(1, 4), (3, 3), (3, 6)])
def test_xnor_scales_binary_convolutions_by_k_like_the_paper(groups, out_channels):
    conv = nn.Conv2d(3, out_channels, 3, stride=2, padding=1, groups=groups)
    q = _single_binary_layer(conv, "xnor")
    x = torch.randn(2, 3, 7, 7)
    with torch.no_grad():
        out = q(x)
    xs, w, b = (t.detach().double().numpy() for t in (x, conv.weight, conv.bias))
    # a grouped convolution is one dense convolution per group, each with its own K
    cin, cout = 3 // groups, out_channels // groups
    expected = np.concatenate([
        _np_xnor_conv(xs[:, g * cin:(g + 1) * cin], w[g * cout:(g + 1) * cout], b[g * cout:(g + 1) * cout], 2, 1)
        for g in range(groups)
    ], axis=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_xnor_scales_a_linear_layer_by_the_mean_absolute_input_and_bnn_does_not_scale():
    linear = nn.Linear(6, 3)
    x = torch.randn(4, 6)
    w = linear.weight.detach()
    binary = torch.sign(x) @ torch.sign(w).T
    alpha = w.abs().mean(1)
    with torch.no_grad():
        xnor = _single_binary_layer(linear, "xnor")(x)
        bnn = _single_binary_layer(linear, "bnn")(x)
    torch.testing.assert_close(xnor, binary * x.abs().mean(1, keepdim=True) * alpha + linear.bias)
    torch.testing.assert_close(bnn, binary + linear.bias)


def test_xnor_gradients_reach_the_input_and_the_weights_through_the_ste_only():
    q = _single_binary_layer(nn.Conv2d(3, 4, 3, padding=1, bias=False), "xnor")
    x = (0.5 * torch.randn(2, 3, 7, 7)).requires_grad_()
    q(x).pow(2).sum().backward()
    weight = q[0].layer.weight  # quantize_model works on a copy
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    # K is a constant for backward (like alpha): inputs beyond the sign STE's |x| <= 1 window get nothing
    far = (2 + torch.rand(2, 3, 7, 7)).requires_grad_()
    q(far).sum().backward()
    assert torch.equal(far.grad, torch.zeros_like(far))


def test_xnor_names_a_conv_whose_k_it_cannot_compute():
    q, _ = quantize_model(nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2)),
                          QuantConfig(weight=W8, activation=None, functional=False), torch.randn(1, 3, 7, 7))
    with pytest.raises(UnsupportedLayerError, match=r"layer '0' \(Conv2d\) has dilation \(2, 2\)"):
        binarize_model(q, "xnor", set(), None)


def test_xnor_model_exports_with_k_and_matches_onnxruntime(tmp_path):
    import onnx
    import onnxruntime as ort

    from export.qdq import export_qdq

    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                          nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.Flatten(),
                          nn.Linear(16 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.randn(4, 1, 8, 8)
    q, _ = quantize_model(model, QuantConfig(functional=False, fold_bn=False), x)
    assert binarize_model(q, "xnor", {"0", "8"}, None) == ["2", "4", "6"]
    calibrate(q, [x], 1)
    report = export_qdq(q, x[:1], tmp_path / "xnor.onnx")
    ops = {n.op_type for n in onnx.load(report.path).graph.node}
    assert {"Abs", "ReduceMean", "AveragePool", "Mul", "Where"} <= ops
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = q(x[:1]).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x[:1].numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
