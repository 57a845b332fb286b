import copy
import logging
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from torch import nn

from compression.quantization import QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model
from compression.quantization.ptq import adaround, correct_bias, equalize_cross_layer
from compression.quantization.spec import sqnr_db
from lightweight_models import create_model
from tests.compression.quantization.helpers import SmallNet, randomize_bn

ROOT = Path(__file__).resolve().parents[3]


def _spread(w):
    r = w.detach().abs().reshape(w.shape[0], -1).amax(1)
    return float(r.max() / r.min())


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
    equalized, report = equalize_cross_layer(model, x)
    assert (report.pairs_found, report.equalized, report.skipped_relu6, report.relu6_replaced) == (2, 2, 0, 0)
    torch.testing.assert_close(equalized(x), model(x), rtol=1e-4, atol=1e-5)
    assert _spread(equalized[2].weight) < _spread(model[2].weight) / 10


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


def inverted_residual(act=nn.ReLU6):
    """MobileNetV2's expand -> depthwise -> project, with BN whose statistics make the ranges unequal."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 1, bias=False), nn.BatchNorm2d(8), act(inplace=True),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), act(inplace=True),
        nn.Conv2d(8, 4, 1, bias=False),
    )
    randomize_bn(model)
    with torch.no_grad():
        model[4].weight.mul_(torch.logspace(-1.5, 1, 8))  # folded into the depthwise conv: ranges over 300x
    return model.eval()


def test_cle_across_relu6_needs_the_option_and_says_so(caplog):
    model = inverted_residual()
    x = torch.randn(2, 1, 6, 6)
    with caplog.at_level(logging.WARNING, logger="compression.quantization.ptq.cle"):
        untouched, report = equalize_cross_layer(model, x)
    assert (report.pairs_found, report.equalized, report.skipped_relu6, report.relu6_replaced) == (2, 0, 2, 0)
    assert "skipped 2 of 2" in caplog.text and "relu6_to_relu=True" in caplog.text
    torch.testing.assert_close(untouched(x), model(x), rtol=1e-4, atol=1e-5)


def test_cle_relu6_to_relu_equalizes_and_matches_the_relu_model(caplog):
    model = inverted_residual()
    relu_model = inverted_residual(nn.ReLU)
    # large inputs: many activations above 6, so ReLU6 and ReLU differ and the comparison below means something
    x = 10 * torch.randn(2, 1, 6, 6)
    with caplog.at_level(logging.WARNING, logger="compression.quantization.ptq.cle"):
        equalized, report = equalize_cross_layer(model, x, relu6_to_relu=True)
    assert (report.pairs_found, report.equalized, report.skipped_relu6, report.relu6_replaced) == (2, 2, 0, 2)
    assert "replaced 2 ReLU6 by ReLU" in caplog.text
    assert not any(isinstance(m, nn.ReLU6) for m in equalized.modules())
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 2  # the input model is left as it was
    with torch.no_grad():
        assert (model(x) - relu_model(x)).abs().max() > 0.1
        torch.testing.assert_close(equalized(x), relu_model(x), rtol=0, atol=1e-5)
    bn = model[4]
    depthwise_folded = model[3].weight * (bn.weight / (bn.running_var + bn.eps).sqrt()).reshape(-1, 1, 1, 1)
    assert _spread(equalized[3].weight) < _spread(depthwise_folded) / 5


def _with_relu_at(model, names):
    model = copy.deepcopy(model)
    for name in names:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, nn.ReLU(inplace=True))
    return model


def _skip_fed_blocks(model):
    # a block with a skip whose input comes straight from the previous block's projection: the projection's
    # output feeds the skip too, so equalizing it with the next expansion conv would change the function
    blocks = [b for stage in model.stages for b in stage]
    return sum(1 for prev, cur in zip(blocks, blocks[1:]) if not prev.has_skip and cur.has_skip)


def test_cle_finds_and_equalizes_pairs_in_the_zoo_mobilenetv2():
    model = create_model("mobilenetv2", num_classes=10, in_chans=1, small_input=True).eval()
    x = torch.randn(1, 1, 28, 28)
    equalized, report = equalize_cross_layer(model, x, relu6_to_relu=True)
    assert report.pairs_found > 30 and report.relu6_replaced > 0
    # every pair is equalized except those whose first conv also feeds a residual add
    assert report.pairs_found - report.equalized == _skip_fed_blocks(model) > 0
    replaced = [n for n, m in equalized.named_modules() if type(m) is nn.ReLU]  # the zoo model has only ReLU6
    assert len(replaced) == report.relu6_replaced
    with torch.no_grad():
        torch.testing.assert_close(equalized(x), _with_relu_at(model, replaced)(x), rtol=1e-4, atol=1e-5)


def test_ptq_method_passes_the_relu6_option_and_records_what_cle_did():
    from configs.schema import register_configs
    from experiments.compress_methods import CompressContext, validate_compress
    from experiments.compress_methods.ptq import prepare

    register_configs()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("compress", overrides=["compress=ptq", "compress.ptq.cross_layer_equalization=true",
                                             "compress.ptq.cle_relu6_to_relu=true"])
    ctx = CompressContext(cfg, inverted_residual(), validate_compress(cfg), torch.randn(2, 1, 6, 6))
    prepare(ctx)
    assert ctx.info["cle_pairs"] == 2 and ctx.info["cle_relu6_replaced"] == 2 and ctx.info["cle_skipped_relu6"] == 0


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
