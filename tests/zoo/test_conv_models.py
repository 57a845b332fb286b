"""Constructor conventions of the MobileNet-style families: strides, widths,
layout (stem / stages / head), argument checks, Hydra configs."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from torch import nn

from configs.schema import register_configs
from experiments.models import build_model
from lightweight_models import create_model
from lightweight_models.blocks import GhostBottleneck, InvertedResidual, UniversalInvertedBottleneck

NAMES = [
    "mobilenetv1",
    "mobilenetv2",
    "mobilenetv3_small",
    "mobilenetv3_large",
    "mobilenetv4_conv_small",
    "efficientnet_b0",
    "ghostnet",
]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("in_chans", "size"), [(1, 28), (3, 32)])
def test_small_input_keeps_total_stride_8(name, in_chans, size) -> None:
    model = create_model(name, num_classes=10, in_chans=in_chans, small_input=True, input_size=size).eval()
    assert model.total_stride == 8
    x = torch.randn(2, in_chans, size, size)
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
    # padding "same"-style convs: each stride-2 step rounds up
    expected = -(-size // 8)
    assert feats.shape == (2, model.num_features, expected, expected)
    assert out.shape == (2, 10)


@pytest.mark.parametrize("name", NAMES)
def test_full_size_model_has_total_stride_32(name) -> None:
    model = create_model(name, num_classes=10, small_input=False).eval()
    assert model.total_stride == 32
    assert model.default_input == 224
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, model.num_features, 2, 2)


@pytest.mark.parametrize("name", NAMES)
def test_layout_is_stem_stages_head(name) -> None:
    model = create_model(name)
    assert isinstance(model.stem, nn.Module)
    assert isinstance(model.stages, nn.Sequential) and len(model.stages) >= 4
    assert all(isinstance(stage, nn.Sequential) for stage in model.stages)
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 1000


@pytest.mark.parametrize("name", NAMES)
def test_width_mult_scales_and_rounds_channels(name) -> None:
    full, half = create_model(name), create_model(name, width_mult=0.5)
    assert _params(half) < 0.6 * _params(full)
    # ghostnet rounds to 4 like its reference, the others to the default round_divisor of 8
    divisor = 4 if name == "ghostnet" else 8
    block_outs = [block.out_chs for stage in half.stages for block in stage]
    assert len(block_outs) >= 10
    assert all(c % divisor == 0 for c in block_outs), block_outs


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("width", [0.0, -1.0])
def test_bad_width_mult_is_rejected(name, width) -> None:
    with pytest.raises(ValueError, match="width_mult"):
        create_model(name, width_mult=width)


@pytest.mark.parametrize("name", NAMES)
def test_input_smaller_than_total_stride_is_rejected(name) -> None:
    with pytest.raises(ValueError, match="input_size"):
        create_model(name, small_input=False, input_size=28)
    create_model(name, small_input=True, input_size=28)  # the small-input stem accepts it


def test_mobilenetv3_rejects_unknown_variant() -> None:
    from lightweight_models.models.mobilenetv3 import MobileNetV3

    with pytest.raises(ValueError, match="variant"):
        MobileNetV3(variant="medium")


def test_efficientnet_depth_mult_scales_repeats() -> None:
    base = create_model("efficientnet_b0")
    deeper = create_model("efficientnet_b0", depth_mult=1.5)
    assert [len(s) for s in base.stages] == [1, 2, 2, 3, 3, 4, 1]
    assert [len(s) for s in deeper.stages] == [2, 3, 3, 5, 5, 6, 2]
    with pytest.raises(ValueError, match="depth_mult"):
        create_model("efficientnet_b0", depth_mult=0)


def test_mobilenetv1_activation_option() -> None:
    model = create_model("mobilenetv1", act="relu6")
    assert isinstance(model.stem.act, nn.ReLU6)
    assert not any(getattr(m, "has_skip", False) for m in model.modules())


@pytest.mark.parametrize(
    ("name", "block_type", "count"),
    [
        ("mobilenetv2", InvertedResidual, 17),
        ("mobilenetv3_large", InvertedResidual, 15),
        ("mobilenetv3_small", InvertedResidual, 11),
        ("efficientnet_b0", InvertedResidual, 16),
        ("ghostnet", GhostBottleneck, 16),
        ("mobilenetv4_conv_small", UniversalInvertedBottleneck, 12),
    ],
)
def test_families_are_built_from_shared_blocks(name, block_type, count) -> None:
    # block counts of the papers' tables
    assert sum(isinstance(m, block_type) for m in create_model(name).modules()) == count


@pytest.mark.parametrize("name", NAMES)
def test_hydra_config_builds_the_model(name) -> None:
    register_configs()
    with initialize_config_module(config_module="configs", version_base=None):
        cfg = compose(config_name="default", overrides=[f"model={name}"])
    assert cfg.model.name == name and cfg.model.small_input and cfg.model.in_chans == 1
    model = build_model(cfg.model, num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, cfg.model.input_size, cfg.model.input_size))
    assert out.shape == (2, 10)
