"""The ShuffleNet V1 unit and family (no torchvision/timm reference: checked against the paper)."""

from __future__ import annotations

import pytest
import torch

from lightweight_models import create_model, model_info
from lightweight_models.models.shufflenetv1 import ShuffleV1Unit
from tests.zoo.other_helpers import count_macs, count_params


def test_unit_stride1_residual_and_params() -> None:
    unit = ShuffleV1Unit(48, 48, 1, groups=3)
    x = torch.randn(2, 48, 6, 6, requires_grad=True)
    out = unit(x)
    assert out.shape == (2, 48, 6, 6) and out.min() >= 0
    out.sum().backward()
    assert x.grad.abs().sum() > 0
    # grouped 1x1 48->12 (g3), dw 3x3 on 12, grouped 1x1 12->48 (g3), BN after each
    assert count_params(unit) == 48 * 12 // 3 + 2 * 12 + 12 * 9 + 2 * 12 + 12 * 48 // 3 + 2 * 48
    # zeroing the branch's last BN leaves ReLU(x): the identity shortcut is there
    with torch.no_grad():
        unit.conv_pwl.bn.weight.zero_()
        unit.conv_pwl.bn.bias.zero_()
    unit.eval()
    assert torch.equal(unit(x.detach().relu()), x.detach().relu())


def test_unit_stride2_concatenates_pooled_input() -> None:
    unit = ShuffleV1Unit(24, 240, 2, groups=3, first_pointwise_groups=1)
    x = torch.randn(2, 24, 8, 8)
    out = unit(x)
    assert out.shape == (2, 240, 4, 4)
    assert unit.conv_pw.conv.groups == 1 and unit.conv_pwl.conv.groups == 3
    assert unit.conv_pwl.out_chs == 240 - 24
    # the first 24 channels are the 3x3/2 average-pooled input
    assert torch.allclose(out[:, :24], torch.nn.functional.avg_pool2d(x, 3, 2, 1))


def test_unit_rejects_bad_groups_and_widths() -> None:
    with pytest.raises(ValueError, match="groups=3 does not divide channels=10"):
        ShuffleV1Unit(40, 40, 1, groups=3)
    with pytest.raises(ValueError, match="in_chs == out_chs"):
        ShuffleV1Unit(40, 48, 1, groups=2)
    with pytest.raises(ValueError, match="stride"):
        ShuffleV1Unit(48, 48, 3, groups=2)


# ShuffleNet paper (arXiv:1707.01083), Table 1, ShuffleNet 1x complexity (MFLOPs = multiply-adds)
# at 224 px: g1 143, g2 140, g3 137, g4 133, g8 137; output channels per stage from the same table.
@pytest.mark.parametrize(
    "groups, paper_macs_m, stage_channels",
    [(1, 143, (144, 288, 576)), (2, 140, (200, 400, 800)), (3, 137, (240, 480, 960)),
     (4, 133, (272, 544, 1088)), (8, 137, (384, 768, 1536))],
)
def test_shufflenetv1_matches_paper(groups: int, paper_macs_m: float, stage_channels: tuple) -> None:
    name = f"shufflenetv1_g{groups}"
    model = create_model(name)
    assert model_info(name)["paper_macs_m"] == paper_macs_m
    assert tuple(stage[-1].out_chs for stage in model.stages) == stage_channels
    assert [len(stage) for stage in model.stages] == [4, 8, 4]
    assert abs(count_macs(model, 224) / 1e6 - paper_macs_m) / paper_macs_m < 0.02


def test_shufflenetv1_width_mult_keeps_groups_divisible() -> None:
    model = create_model("shufflenetv1_g3", width_mult=0.5, num_classes=10, small_input=True, input_size=28)
    # 240/480/960 * 0.5 rounded to multiples of lcm(8, 4 * 3) = 24; stem 24 * 0.5 -> 24
    assert tuple(stage[-1].out_chs for stage in model.stages) == (120, 240, 480)
    assert model.stem[0].out_chs == 24 and model.total_stride == 8
    out = model(torch.randn(2, 3, 28, 28))
    assert out.shape == (2, 10)
    odd = create_model("shufflenetv1_g8", width_mult=0.3, round_divisor=4)
    assert all(stage[-1].out_chs % 32 == 0 for stage in odd.stages)
    with pytest.raises(ValueError, match="groups must be one of"):
        from lightweight_models.models.shufflenetv1 import ShuffleNetV1

        ShuffleNetV1(groups=5)
    with pytest.raises(ValueError, match="width_mult"):
        create_model("shufflenetv1_g1", width_mult=0.0)
    with pytest.raises(ValueError, match="input_size=8"):
        create_model("shufflenetv1_g1", input_size=8)
