import numpy as np
import pytest
import torch
from torch import nn

from compression.quantization import QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model, set_quant_mode
from compression.quantization.binary import BinaryWeight, binarize_model
from compression.quantization.insert import UnsupportedLayerError
from compression.quantization.mixed_precision import Sensitivity, assign_bits, layer_sensitivity
from compression.quantization.modules import QuantizedLayer
from compression.quantization.qat import FreezeBatchNorm, QuantizedConvBn, attach_batchnorm
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


def test_freezing_folds_bn_into_the_trained_weight():
    # a BN with tiny running variance: with gamma/sigma kept as a factor, an SGD step on w would move the
    # folded weight (gamma/sigma)**2 times too far; after freezing, w is the folded weight itself
    torch.manual_seed(0)
    model = randomize_bn(SmallNet(8))
    bn = model.get_submodule("stem.1")
    bn.running_var.fill_(1e-3)
    x = torch.randn(8, 1, 10, 10)
    q, _ = quantize_model(model, QuantConfig(fold_bn=False), x)
    attach_batchnorm(q)
    calibrate(q, [x], 1)
    set_quant_mode(q, "frozen")
    convbn = q.get_submodule("stem.0")
    q.eval()
    with torch.no_grad():
        before = q(x)
        folded_w, folded_b = convbn.effective_weight().clone(), convbn.effective_bias().clone()
    FreezeBatchNorm(0).on_epoch_start(0, q)
    with torch.no_grad():
        torch.testing.assert_close(q(x), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(convbn.layer.weight.detach(), folded_w)
    torch.testing.assert_close(convbn.effective_weight().detach(), folded_w)
    torch.testing.assert_close(convbn.effective_bias().detach(), folded_b)
    assert not convbn.bn.weight.requires_grad
    q.train()
    q(x).sum().backward()
    # d out / d w == d out / d (folded weight): the factor is exactly one now
    assert torch.equal(convbn._factor(), torch.ones_like(convbn._factor()))
    assert convbn.layer.weight.grad is not None and convbn.bn.bias.grad is not None
    FreezeBatchNorm(0).on_epoch_start(1, q)  # idempotent
    torch.testing.assert_close(convbn.layer.weight.detach(), folded_w)


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
        binarize_model(q, "xnor", {"0", "4"}, None, x)
    q2, _ = quantize_model(model, QuantConfig(weight=W8, functional=False), x)
    assert binarize_model(q2, "twn", {"0", "1", "4"}, None).layers == ["2"]


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
    assert binarize_model(q, variant, set(), None, example).layers == ["0"]
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
        binarize_model(q, "xnor", set(), None, torch.randn(1, 3, 7, 7))


def test_xnor_model_exports_with_k_and_matches_onnxruntime(tmp_path):
    import onnx
    import onnxruntime as ort

    from export.qdq import export_qdq

    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                          nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1, groups=4), nn.Flatten(),
                          nn.Linear(16 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.randn(4, 1, 8, 8)
    q, _ = quantize_model(model, QuantConfig(functional=False, fold_bn=False), x)
    report = binarize_model(q, "xnor", {"0", "8"}, None, x)
    assert report.layers == ["2", "4", "6"]
    # the ReLUs in front of binary layers go; the one before the kept head stays (not binary)
    assert report.activations_removed == ["1", "3"] and isinstance(q[7], nn.ReLU)
    calibrate(q, [x], 1)
    report = export_qdq(q, x[:1], tmp_path / "xnor.onnx")
    ops = {n.op_type for n in onnx.load(report.path).graph.node}
    assert {"Abs", "ReduceMean", "AveragePool", "Mul", "Where"} <= ops
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = q(x[:1]).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x[:1].numpy()})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def _conv_bn_relu6_chain():
    """conv-BN-ReLU6-conv-BN-ReLU6-conv: the middle conv is the one binarized (first and last are kept)."""
    torch.manual_seed(0)
    return randomize_bn(nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(inplace=True),
                                      nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(inplace=True),
                                      nn.Conv2d(8, 4, 1)))


def _binarized_chain(variant):
    x = torch.randn(2, 1, 8, 8)
    q, _ = quantize_model(_conv_bn_relu6_chain(), QuantConfig(functional=False, fold_bn=False), x)
    report = binarize_model(q, variant, {"0", "6"}, None, x)
    return q, report, x


def _input_of(module, model, x):
    seen = []
    handle = module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("variant", ["bnn", "xnor"])
def test_binary_activations_replace_the_relu6_in_front_of_a_binary_layer(variant):
    q, report, x = _binarized_chain(variant)
    assert report.layers == ["3"]
    # ReLU6 "2" feeds the binary conv: gone; "5" feeds the kept last conv: stays
    assert report.activations_removed == ["2"] and report.activations_kept == {}
    assert isinstance(q[2], nn.Identity) and isinstance(q[5], nn.ReLU6)
    calibrate(q, [x], 1)
    assert _input_of(q[3], q, x).min() < 0  # sign() now sees the BN output, not values >= 0


def test_twn_keeps_real_valued_activations_and_their_relu6():
    q, report, _ = _binarized_chain("twn")
    assert report.layers == ["3"] and report.activations_removed == []
    assert isinstance(q[2], nn.ReLU6) and isinstance(q[5], nn.ReLU6)


class _ResidualNet(nn.Module):
    """The stem's ReLU feeds a binary conv and a residual add; the block's ReLU feeds only a binary conv."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        s = self.stem(x)
        return self.head(self.conv2(self.relu(self.bn(self.conv(s)))) + s)


def test_a_relu_that_also_feeds_a_residual_add_is_kept_with_the_reason():
    torch.manual_seed(0)
    model = randomize_bn(_ResidualNet())
    x = torch.randn(2, 1, 8, 8)
    q, _ = quantize_model(model, QuantConfig(functional=False, fold_bn=False), x)
    report = binarize_model(q, "bnn", {"stem.0", "head"}, None, x)
    assert report.layers == ["conv", "conv2"]
    assert report.activations_removed == ["relu"] and isinstance(q.relu, nn.Identity)
    assert isinstance(q.stem[2], nn.ReLU)
    assert set(report.activations_kept) == {"stem.2"} and "add" in report.activations_kept["stem.2"]



class _ShuffleNet(nn.Module):
    """ShuffleNet's pattern: ReLU outputs reach the next binary conv only through concat and channel shuffle."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU())
        self.mix = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        s = self.stem(x)
        y = torch.cat((s, self.branch(s)), dim=1)
        n, c, h, w = y.shape
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        return self.head(self.mix(y).mean((2, 3)))


@pytest.mark.parametrize("functional", [False, True])  # True: the concat's inputs carry quantizers
def test_relus_routed_through_concat_and_shuffle_into_binary_convs_are_removed(functional):
    torch.manual_seed(0)
    x = torch.randn(2, 1, 6, 6)
    q, _ = quantize_model(randomize_bn(_ShuffleNet()), QuantConfig(functional=functional, fold_bn=False), x)
    report = binarize_model(q, "xnor", {"stem.0", "head"}, None, x)
    assert report.layers == ["branch.0", "mix.0"]
    # mix's ReLU feeds the pooling (a mean), not a binary layer: not even a candidate
    assert sorted(report.activations_removed) == ["branch.2", "stem.2"] and report.activations_kept == {}
    assert isinstance(q.get_submodule("mix.2"), nn.ReLU)


def test_binary_activations_need_an_example_input():
    q, _ = quantize_model(_conv_bn_relu6_chain(), QuantConfig(functional=False, fold_bn=False),
                          torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="'xnor' scheme binarizes activations and needs an example_input"):
        binarize_model(q, "xnor", {"0", "6"}, None)


def test_xnor_mobilenetv2_trains_with_finite_gradients():
    from lightweight_models import create_model

    torch.manual_seed(0)
    model = create_model("mobilenetv2", num_classes=10, in_chans=1, small_input=True, width_mult=0.5)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    q, _ = quantize_model(model, QuantConfig(fold_bn=False), x)
    layers = [n for n, m in q.named_modules() if type(m) is QuantizedLayer]
    report = binarize_model(q, "xnor", {layers[0], layers[-1]}, None, x[:1])
    assert len(report.activations_removed) > 10
    calibrate(q, [x], 1)
    set_quant_mode(q, "frozen")
    q.train()
    opt = torch.optim.SGD(q.parameters(), lr=0.01, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(q(x), y)
        loss.backward()
        assert torch.isfinite(loss)
        grads = [p.grad for p in q.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0
        opt.step()


def test_bnn_model_exports_and_matches_onnxruntime(tmp_path):
    import onnxruntime as ort

    from export.qdq import export_qdq

    torch.manual_seed(0)
    model = randomize_bn(nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                                       nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                                       nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU6(),
                                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)))
    x = torch.randn(4, 1, 8, 8)
    q, _ = quantize_model(model, QuantConfig(fold_bn=False), x)
    report = binarize_model(q, "bnn", {"0", "11"}, None, x[:1])
    assert report.layers == ["3", "6"] and report.activations_removed == ["2", "5"]
    calibrate(q, [x], 1)
    set_quant_mode(q, "frozen")
    q.eval()
    exported = export_qdq(q, x[:1], tmp_path / "bnn.onnx")
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = q(x).numpy()
    got = np.concatenate([session.run(None, {session.get_inputs()[0].name: x[i:i + 1].numpy()})[0]
                          for i in range(len(x))])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_export_names_a_quantizer_calibrated_on_non_finite_values(tmp_path):
    from export.qdq import export_qdq

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))
    x = torch.randn(1, 1, 6, 6)
    q, _ = quantize_model(model, QuantConfig(functional=False, fold_bn=False), x)
    calibrate(q, [x.masked_fill(x > 0, float("nan"))], 1)  # as a diverged model feeds its calibrators
    set_quant_mode(q, "frozen")
    with pytest.raises(ValueError, match=r"quantizer '0.input_quant' has no valid grid.*not finite"):
        export_qdq(q, x, tmp_path / "nan.onnx")


def test_batchnorm_reestimation_sets_the_running_statistics_to_the_data_average():
    from experiments.compress_methods.binary import reestimate_batchnorm

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3)).eval()
    batches = [torch.randn(4, 1, 5, 5) * 3 + 2 for _ in range(3)]
    assert reestimate_batchnorm(model, batches, 3, "cpu") == 3
    with torch.no_grad():
        feats = torch.cat([model[0](b) for b in batches])
    torch.testing.assert_close(model[1].running_mean, feats.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert model[1].momentum == 0.1 and not model.training  # settings are restored
