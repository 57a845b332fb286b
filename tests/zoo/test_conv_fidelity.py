"""Fidelity of the MobileNet-style families to their papers and reference implementations.

Configured like the reference (1000 classes, 3 channels, width 1.0, full-size
stem) each model must have exactly the reference's parameter count, and its
multiply-adds at the paper's resolution must be within 2% of the paper's figure.
"""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightweight_models import create_model, model_info

MAC_TOLERANCE = 0.02

# name, reference implementation, paper MMACs at 224 px, source of the figure
PAPER_TABLE = [
    ("mobilenetv1", "timm/mobilenetv1_100", 569, "MobileNets (arXiv:1704.04861) Table 8: 1.0 MobileNet-224, 569M"),
    ("mobilenetv2", "tv/mobilenet_v2", 300, "MobileNetV2 (arXiv:1801.04381) Table 4: MobileNetV2, 300M"),
    ("mobilenetv3_large", "tv/mobilenet_v3_large", 219, "MobileNetV3 (arXiv:1905.02244) Table 3: Large 1.0, 219M"),
    ("mobilenetv3_small", "tv/mobilenet_v3_small", 56, "MobileNetV3 (arXiv:1905.02244) Table 3: Small 1.0, 56M"),
    ("efficientnet_b0", "tv/efficientnet_b0", 390, "EfficientNet (arXiv:1905.11946) Table 2: B0, 0.39B FLOPs"),
    ("ghostnet", "timm/ghostnet_100", 141, "GhostNet (arXiv:1911.11907) Table 7: GhostNet 1.0x, 141M"),
    ("mobilenetv4_conv_small", "timm/mobilenetv4_conv_small", 200, "MobileNetV4 (arXiv:2404.10518): Conv-S, 0.2G"),
]
NAMES = [row[0] for row in PAPER_TABLE]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _macs(model: nn.Module, size: int) -> float:
    """Multiply-adds of one image in millions (FlopCounterMode counts a MAC as two FLOPs)."""
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, size, size))
    return counter.get_total_flops() / 2e6


def _reference(name: str) -> nn.Module:
    src, _, inner = name.partition("/")
    if src == "timm":
        return timm.create_model(inner, pretrained=False)
    return torchvision.models.get_model(inner, weights=None)


def _ours(name: str) -> nn.Module:
    return create_model(name, num_classes=1000, in_chans=3, width_mult=1.0, small_input=False)


@pytest.mark.parametrize(("name", "reference", "paper_macs_m", "source"), PAPER_TABLE, ids=NAMES)
def test_registration_states_the_paper_figure(name, reference, paper_macs_m, source) -> None:
    info = model_info(name)
    assert info["reference"] == reference
    assert info["paper_macs_m"] == paper_macs_m
    assert info["default_input"] == 224
    assert info["paper_source"]


@pytest.mark.parametrize(("name", "reference", "paper_macs_m", "source"), PAPER_TABLE, ids=NAMES)
def test_parameter_count_equals_reference(name, reference, paper_macs_m, source) -> None:
    assert _params(_ours(name)) == _params(_reference(reference))


@pytest.mark.parametrize(
    ("name", "reference", "paper_macs_m", "source"),
    [row for row in PAPER_TABLE if row[0] != "mobilenetv4_conv_small"],
    ids=[n for n in NAMES if n != "mobilenetv4_conv_small"],
)
def test_macs_match_paper(name, reference, paper_macs_m, source) -> None:
    macs = _macs(_ours(name), 224)
    assert abs(macs / paper_macs_m - 1) <= MAC_TOLERANCE, f"{name}: {macs:.1f}M vs {paper_macs_m}M ({source})"


def test_mobilenetv4_conv_small_macs() -> None:
    # The paper prints "0.2G" for MNv4-Conv-S: one significant digit, so it only says 150-250M.
    # The reference implementation (timm, the architecture the authors released) has 186.0M at
    # 224 px, 7% under a literal 200M; the difference is the paper's rounding, not a different
    # network. So we match the reference's count within 2% and the paper's figure at the
    # precision it is printed with.
    ours = _macs(_ours("mobilenetv4_conv_small"), 224)
    reference = _macs(_reference("timm/mobilenetv4_conv_small"), 224)
    assert abs(ours / reference - 1) <= MAC_TOLERANCE, f"{ours:.1f}M vs reference {reference:.1f}M"
    assert round(ours / 1000, 1) == 0.2
