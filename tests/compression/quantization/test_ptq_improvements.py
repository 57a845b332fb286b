import torch
from torch import nn

from compression.quantization import QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model
from compression.quantization.ptq import adaround, correct_bias, equalize_cross_layer
from compression.quantization.spec import sqnr_db
from tests.compression.quantization.helpers import SmallNet, randomize_bn


def depthwise_separable(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),
        nn.Conv2d(8, 16, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    )
    with torch.no_grad():
        # very unequal depthwise channel ranges that the next layer compensates (as after BN folding):
        # what breaks per-tensor quantization of depthwise layers
        k = torch.logspace(-2, 1, 8)
        model[2].weight.mul_(k.reshape(8, 1, 1, 1))
        model[2].bias.mul_(k)
        model[4].weight.div_(k.reshape(1, 8, 1, 1))
    return model.eval()


def test_cle_keeps_the_function_and_equalizes_ranges():
    model = depthwise_separable()
    x = torch.randn(4, 1, 8, 8)
    equalized, pairs = equalize_cross_layer(model, x)
    assert pairs == 2
    torch.testing.assert_close(equalized(x), model(x), rtol=1e-4, atol=1e-5)
    def spread(w):
        r = w.detach().abs().reshape(w.shape[0], -1).amax(1)
        return float(r.max() / r.min())

    assert spread(equalized[2].weight) < spread(model[2].weight) / 10


def test_cle_improves_per_tensor_int8():
    model = depthwise_separable()
    x = torch.randn(16, 1, 8, 8)
    per_tensor = QuantConfig(weight=TensorQuant(QuantSpec(8, True, True, per_channel=False)), activation=None,
                             functional=False)
    scores = []
    for m in (model, equalize_cross_layer(model, x)[0]):
        q, _ = quantize_model(m, per_tensor, x)
        calibrate(q, [x], 1)
        with torch.no_grad():
            scores.append(sqnr_db(model(x), q(x)))
    assert scores[1] > scores[0] + 3


def _w4(seed=0):
    torch.manual_seed(seed)
    model = randomize_bn(SmallNet(8), seed)
    x = torch.randn(32, 1, 10, 10)
    config = QuantConfig(weight=TensorQuant(QuantSpec(4, True, True, per_channel=True)), activation=None,
                         functional=False)
    q, _ = quantize_model(model, config, x)
    calibrate(q, [x], 1)
    return model, q, x


def test_bias_correction_removes_the_mean_output_shift():
    model, q, x = _w4()
    with torch.no_grad():
        before = float((q(x) - model(x)).mean(0).abs().mean())
        assert correct_bias(q, [x], 1) == 4
        after = float((q(x) - model(x)).mean(0).abs().mean())
    assert after < before


def test_adaround_beats_nearest_rounding_and_stays_on_the_grid():
    model, q, x = _w4()
    with torch.no_grad():
        nearest = sqnr_db(model(x), q(x))
    adaround(q, [x], 1, iters=150)
    with torch.no_grad():
        learned = sqnr_db(model(x), q(x))
        w = q.pw[0].layer.weight
        codes = w / q.pw[0].weight_quant.scale.reshape(-1, 1, 1, 1)
    assert learned > nearest
    torch.testing.assert_close(codes, codes.round(), atol=1e-4, rtol=0)
