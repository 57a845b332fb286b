"""complexity.profile against figures computed by hand from the layer formulas."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lightweight_models import create_model
from lightweight_models.complexity import memory_access_cost, peak_activation_bytes, profile

FLOAT_BYTES = 4


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def test_simple_cnn_params_and_macs_match_the_formulas():
    # width 0.25 rounds every stage to a multiple of 8: 32->8, 64->16, 128->32
    widths = [8, 8, 16, 16, 32, 32]
    strides = [1, 1, 2, 1, 2, 1]  # small_input: stride-1 stem
    in_chans, classes, size = 1, 10, 8
    model = create_model("simple_cnn", width_mult=0.25, num_classes=classes, in_chans=in_chans)

    params, macs, cin, h = 0, 0, in_chans, size
    for cout, stride in zip(widths, strides):
        h = _conv_out(h, 3, stride, 1)
        params += 3 * 3 * cin * cout + 2 * cout  # bias-free conv + BN scale/shift
        macs += h * h * 3 * 3 * cin * cout
        cin = cout
    params += cin * classes + classes
    macs += cin * classes

    report = profile(model, (1, in_chans, size, size))
    assert (report.params, report.macs) == (params, macs)
    # MACs are per forward, so they scale with the batch
    assert profile(model, (3, in_chans, size, size)).macs == 3 * macs


def test_memory_access_cost_of_a_conv_is_the_shufflenetv2_formula():
    h = w = 10
    c_in, c_out, k, groups = 4, 6, 3, 2
    conv = nn.Conv2d(c_in, c_out, k, padding=1, groups=groups, bias=False)
    x = torch.randn(1, c_in, h, w)
    expected = h * w * (c_in + c_out) + k * k * c_in * c_out // groups
    assert memory_access_cost(conv, x, conv(x)) == expected
    report = profile(nn.Sequential(conv), (1, c_in, h, w))
    assert report.memory_access_cost == expected
    assert report.layers[0].memory_access_cost == expected


def test_memory_access_cost_of_linear_counts_every_token():
    fc = nn.Linear(5, 7)
    x = torch.randn(2, 3, 5)  # 6 rows of 5 features
    assert memory_access_cost(fc, x, fc(x)) == 6 * 5 + 6 * 7 + 5 * 7


def test_layers_without_a_rule_have_no_access_cost():
    bn = nn.BatchNorm2d(3).eval()
    x = torch.randn(1, 3, 4, 4)
    assert memory_access_cost(bn, x, bn(x)) is None


def _chain(inplace: bool) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.ReLU(inplace=inplace),
        nn.Conv2d(16, 4, 3, padding=1, bias=False),
    )


def test_peak_activation_of_a_chain_is_the_largest_adjacent_pair():
    hw = 8 * 8
    x, a, b, c = 3 * hw, 16 * hw, 16 * hw, 4 * hw  # input, conv1 out, relu out, conv2 out
    expected = max(x + a, a + b, b + c) * FLOAT_BYTES
    assert expected == 2 * 16 * hw * FLOAT_BYTES  # the relu step: its input and output
    assert peak_activation_bytes(_chain(inplace=False), torch.randn(1, 3, 8, 8)) == expected


def test_in_place_ops_share_their_input_buffer():
    hw = 8 * 8
    x, a, c = 3 * hw, 16 * hw, 4 * hw  # the relu writes into conv1's output
    expected = max(x + a, a + c) * FLOAT_BYTES
    assert peak_activation_bytes(_chain(inplace=True), torch.randn(1, 3, 8, 8)) == expected


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2, 8, 1, bias=False), nn.Conv2d(8, 2, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def test_a_skip_connection_keeps_its_input_alive():
    hw = 4 * 4
    x, a, b, out = 2 * hw, 8 * hw, 2 * hw, 2 * hw
    # x lives until the add, so it is counted next to the wide middle buffer
    expected = max(x + a, x + a + b, x + b + out) * FLOAT_BYTES
    assert peak_activation_bytes(_Residual(), torch.randn(1, 2, 4, 4)) == expected


def test_profile_restores_training_mode_and_serializes():
    model = create_model("simple_cnn", width_mult=0.25).train()
    report = profile(model, (2, 1, 8, 8))
    assert model.training
    data = json.loads(json.dumps(report.to_dict()))
    assert data["input_shape"] == [2, 1, 8, 8]
    assert data["params"] == report.params
    assert [row["name"] for row in data["layers"]][:2] == ["features.0.conv", "features.0.bn"]
    assert data["layers"][0]["output_shape"] == [2, 8, 8, 8]


def test_default_blocks_are_the_children_of_features():
    model = create_model("simple_cnn", width_mult=0.25)
    report = profile(model, (1, 1, 8, 8))
    assert [b.name for b in report.blocks] == [f"features.{i}" for i in range(6)] + ["pool", "drop", "classifier"]
    assert all(b.layers == 3 for b in report.blocks[:6])
    shallow = profile(model, (1, 1, 8, 8), block_depth=1)
    assert [b.name for b in shallow.blocks] == ["features", "pool", "drop", "classifier"]
    assert shallow.blocks[0].macs == sum(b.macs for b in report.blocks[:6])


class _OwnOps(nn.Module):
    """A parameter and a matmul that belong to the container itself, not to a leaf."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) @ self.scale


def test_container_own_params_and_macs_get_their_own_row():
    report = profile(_OwnOps(), (2, 4))
    own = [r for r in report.layers if r.type.endswith("(own)")]
    assert len(own) == 1 and own[0].params == 16 and own[0].macs == 2 * 4 * 4
    assert report.macs == 2 * 4 * 4 * 2
    assert sum(r.params for r in report.layers) == report.params == 4 * 4 + 4 + 16


@pytest.mark.parametrize("shape", [(), (1,), (1, 0, 8, 8), (1, -3, 8, 8)])
def test_bad_input_shape_is_rejected(shape):
    with pytest.raises(ValueError, match="input_shape"):
        profile(create_model("simple_cnn"), shape)


def test_bad_block_depth_is_rejected():
    with pytest.raises(ValueError, match="depth"):
        profile(create_model("simple_cnn", width_mult=0.25), (1, 1, 8, 8), block_depth=0)
