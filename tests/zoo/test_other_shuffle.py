"""Channel shuffle and the ShuffleNetV2 family."""

from __future__ import annotations

import pytest
import torch

from lightweight_models import create_model, model_info
from lightweight_models.blocks import ChannelShuffle, channel_shuffle
from lightweight_models.models.shufflenetv2 import ShuffleV2Unit
from tests.zoo.other_helpers import count_macs, count_params


def test_channel_shuffle_interleaves_groups() -> None:
    # channel c of group g moves to position c * groups + g
    x = torch.arange(6.0).reshape(1, 6, 1, 1).expand(2, 6, 3, 3)
    out = channel_shuffle(x, 2)
    assert out[0, :, 0, 0].tolist() == [0, 3, 1, 4, 2, 5]
    assert out.shape == x.shape
    back = channel_shuffle(out, 3)  # shuffling by the other factor undoes it
    assert torch.equal(back, x)


def test_channel_shuffle_module_validates_and_matches_function() -> None:
    x = torch.randn(2, 12, 4, 5, requires_grad=True)
    mod = ChannelShuffle(12, 3)
    assert torch.equal(mod(x), channel_shuffle(x, 3))
    mod(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="groups=5 does not divide channels=12"):
        ChannelShuffle(12, 5)
    with pytest.raises(ValueError, match="groups"):
        ChannelShuffle(12, 0)


@pytest.mark.parametrize("stride", [1, 2])
def test_shufflev2_unit_shapes_and_params(stride: int) -> None:
    in_chs = 24 if stride == 2 else 48
    unit = ShuffleV2Unit(in_chs, 48, stride)
    x = torch.randn(2, in_chs, 8, 8, requires_grad=True)
    out = unit(x)
    assert out.shape == (2, 48, 8 // stride, 8 // stride)
    out.sum().backward()
    assert x.grad.abs().sum() > 0
    # branch2: 1x1 (in->24) + dw3x3 (24) + 1x1 (24->24), each with BN (2 params/channel)
    b2 = (24 if stride == 1 else in_chs) * 24 + 24 * 9 + 24 * 24 + 3 * 2 * 24
    b1 = in_chs * 9 + 2 * in_chs + in_chs * 24 + 2 * 24 if stride == 2 else 0
    assert count_params(unit) == b1 + b2


def test_shufflev2_unit_stride1_passes_half_unchanged() -> None:
    unit = ShuffleV2Unit(8, 8, 1).eval()
    x = torch.randn(1, 8, 4, 4)
    out = unit(x)
    # after the shuffle the untouched half sits on the even channels
    assert torch.equal(out[:, 0::2], x[:, :4])
    with pytest.raises(ValueError, match="in_chs == out_chs"):
        ShuffleV2Unit(8, 16, 1)
    with pytest.raises(ValueError, match="groups=2 does not divide channels=15"):
        ShuffleV2Unit(8, 15, 2)


# reference: torchvision shufflenet_v2_*; MACs: ShuffleNetV2 paper (arXiv:1807.11164) Table 5 at 224 px
@pytest.mark.parametrize(
    "name, tv_name, paper_macs_m",
    [
        ("shufflenetv2_x0_5", "shufflenet_v2_x0_5", 41),
        ("shufflenetv2_x1_0", "shufflenet_v2_x1_0", 146),
        ("shufflenetv2_x1_5", "shufflenet_v2_x1_5", 299),
        ("shufflenetv2_x2_0", "shufflenet_v2_x2_0", 591),
    ],
)
def test_shufflenetv2_fidelity(name: str, tv_name: str, paper_macs_m: float) -> None:
    import torchvision

    ours = create_model(name)
    ref = torchvision.models.get_model(tv_name, weights=None)
    assert count_params(ours) == count_params(ref)
    assert model_info(name)["paper_macs_m"] == paper_macs_m
    macs = count_macs(ours, 224)
    assert abs(macs / 1e6 - paper_macs_m) / paper_macs_m < 0.02


def test_shufflenetv2_small_input_and_args() -> None:
    model = create_model("shufflenetv2_x0_5", small_input=True, in_chans=1, num_classes=10, input_size=28)
    assert model.total_stride == 8 and model.default_input == 224
    feats = model.forward_features(torch.randn(2, 1, 28, 28))
    assert feats.shape == (2, model.num_features, 4, 4)
    wide = create_model("shufflenetv2_x1_0", width_mult=0.5, num_classes=10)
    # 116/232/464/1024 * 0.5 rounded to multiples of 8 (the stem's 24 -> 16)
    assert [stage[-1].shuffle.channels for stage in wide.stages] == [56, 120, 232]
    assert wide.num_features == 512 and wide.stem[0].out_chs == 16
    with pytest.raises(ValueError, match="width_mult"):
        create_model("shufflenetv2_x1_0", width_mult=0)
    with pytest.raises(ValueError, match="input_size=16"):
        create_model("shufflenetv2_x1_0", input_size=16)
