import pytest
import torch
from torch import nn

from compression.quantization import (
    CalibrationError,
    LayerOverride,
    QAdd,
    QuantConfig,
    QuantizedLayer,
    UnsupportedLayerError,
    calibrate,
    quantize_model,
    quantizers,
)
from compression.quantization.spec import sqnr_db
from tests.compression.quantization.helpers import SmallNet, randomize_bn


def test_per_channel_axes_follow_the_layer_type():
    model = nn.Sequential(
        nn.Conv2d(4, 4, 3, groups=4),          # depthwise: weight [4, 1, 3, 3]
        nn.ConvTranspose2d(4, 6, 2),           # weight [4, 6, 2, 2]: output channels on axis 1
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, 5),               # weight [5, 54]
    )
    x = torch.randn(2, 4, 4, 4)
    qmodel, report = quantize_model(model, QuantConfig(functional=False), x)
    calibrate(qmodel, [x], 1)
    weight_quants = {n: q for n, q in quantizers(qmodel) if q.role == "weight"}
    axes = {n.split(".")[0]: (q.ch_axis, tuple(q.scale.shape)) for n, q in weight_quants.items()}
    assert axes == {"0": (0, (4,)), "1": (1, (6,)), "3": (0, (5,))}
    assert len(report.quantized_layers) == 3


def test_small_net_quantizes_functional_ops_and_stays_close():
    torch.manual_seed(0)
    model = randomize_bn(SmallNet())
    x = torch.randn(8, 1, 12, 12)
    qmodel, report = quantize_model(model, QuantConfig(), x)
    assert report.folded_bn == 3
    assert {n.rsplit(".", 1)[-1] for n in report.quantized_functional} == {"q_add", "q_cat"}
    calibrate(qmodel, [x], 1)
    with torch.no_grad():
        assert sqnr_db(model(x), qmodel(x)) > 25


def test_explicit_wrappers_work_in_untraceable_models():
    class Untraceable(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.add = QAdd()

        def forward(self, x):
            if x.sum() > 1e9:  # data-dependent control flow: torch.fx cannot trace this
                return x
            return self.add(self.conv(x), x)

    x = torch.randn(2, 1, 6, 6)
    qmodel, report = quantize_model(Untraceable(), QuantConfig(), x)
    assert "<model>" in report.untraced
    assert report.quantized_functional == ["add"]
    calibrate(qmodel, [x], 1)
    assert len(qmodel.add.input_quants) == 2 and all(bool(q.calibrated) for q in qmodel.add.input_quants)


def test_overrides_keep_first_and_last_layers_at_other_precision():
    model = SmallNet()
    x = torch.randn(2, 1, 8, 8)
    config = QuantConfig(overrides={"stem.0": LayerOverride(weight_bits=8), "dw.*": LayerOverride(weight_bits=4),
                                    "fc": LayerOverride(skip=True)})
    qmodel, _ = quantize_model(model, config, x)
    assert qmodel.get_submodule("dw.0").weight_quant.spec.bits == 4
    assert qmodel.get_submodule("stem.0").weight_quant.spec.bits == 8
    assert not isinstance(qmodel.get_submodule("fc"), QuantizedLayer)


def test_override_on_an_unsupported_layer_type_names_it():
    config = QuantConfig(fold_bn=False, overrides={"stem.1": LayerOverride(weight_bits=4)})
    with pytest.raises(UnsupportedLayerError, match="stem.1.*BatchNorm2d"):
        quantize_model(SmallNet(), config, torch.randn(1, 1, 8, 8))


def test_bad_overrides_fail_before_any_work():
    with pytest.raises(ValueError, match="bit width"):
        QuantConfig(overrides={"fc": LayerOverride(weight_bits=12)})
    with pytest.raises(ValueError, match="matches no quantizable layer"):
        quantize_model(SmallNet(), QuantConfig(overrides={"nope*": LayerOverride(weight_bits=4)}),
                       torch.randn(1, 1, 8, 8))


def test_calibration_with_zero_batches_fails_clearly():
    qmodel, _ = quantize_model(SmallNet(), QuantConfig(), torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="at least one batch"):
        calibrate(qmodel, [torch.randn(1, 1, 8, 8)], 0)
    with pytest.raises(CalibrationError, match="zero batches"):
        calibrate(qmodel, [], 4)
