"""Fire module and the SqueezeNet family."""

from __future__ import annotations

import pytest
import torch

from lightweight_models import create_model, model_info
from lightweight_models.blocks import Fire
from tests.zoo.other_helpers import count_macs, count_params


def test_fire_shapes_params_and_gradient() -> None:
    fire = Fire(96, 16, 64, 64)
    x = torch.randn(2, 96, 7, 9, requires_grad=True)
    out = fire(x)
    assert out.shape == (2, 128, 7, 9) and fire.out_chs == 128
    # biased convs: squeeze 96*16+16, expand1x1 16*64+64, expand3x3 16*64*9+64 (= fire2 of the paper)
    assert count_params(fire) == 96 * 16 + 16 + 16 * 64 + 64 + 16 * 64 * 9 + 64
    out.sum().backward()
    assert x.grad.abs().sum() > 0
    # every output passed through a ReLU
    assert out.min() >= 0


def test_fire_uneven_expands_and_bad_widths() -> None:
    assert Fire(8, 4, 6, 10)(torch.randn(1, 8, 3, 3)).shape == (1, 16, 3, 3)
    with pytest.raises(ValueError, match="squeeze_chs"):
        Fire(8, 0, 6, 10)


# reference: torchvision squeezenet1_0/1_1. MACs: torchvision's model docs list 0.82 / 0.35 "GFLOPS",
# which torchvision counts as multiply-adds, at 224 px (the SqueezeNet paper, arXiv:1602.07360,
# gives parameters and model size only, no operation count).
@pytest.mark.parametrize("version, paper_macs_m", [("1_0", 820), ("1_1", 350)])
def test_squeezenet_fidelity(version: str, paper_macs_m: float) -> None:
    import torchvision

    ours = create_model(f"squeezenet{version}")
    ref = torchvision.models.get_model(f"squeezenet{version}", weights=None)
    assert count_params(ours) == count_params(ref)
    assert model_info(f"squeezenet{version}")["paper_macs_m"] == paper_macs_m
    assert abs(count_macs(ours, 224) / 1e6 - paper_macs_m) / paper_macs_m < 0.02


def test_squeezenet_small_input_width_and_errors() -> None:
    model = create_model("squeezenet1_1", small_input=True, in_chans=1, num_classes=10, input_size=28)
    assert model.total_stride == 8 and model.default_input == 224 and model.num_features == 512
    feats = model.forward_features(torch.randn(2, 1, 28, 28))
    # 28 -> 14 -> 7 -> 3 through three ceil-mode 3x3/2 max pools
    assert feats.shape == (2, 512, 3, 3)
    half = create_model("squeezenet1_0", width_mult=0.5, num_classes=10)
    assert half.stem[0].out_chs == 48 and half.num_features == 256
    with pytest.raises(ValueError, match="input_size=24 is too small.*>= 25"):
        create_model("squeezenet1_1", input_size=24)
    with pytest.raises(ValueError, match="version"):
        from lightweight_models.models.squeezenet import SqueezeNet

        SqueezeNet(version="2_0")
