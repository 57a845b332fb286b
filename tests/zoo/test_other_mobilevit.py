"""The MobileViT family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightweight_models import create_model, model_info
from tests.zoo.other_helpers import count_macs, count_params


def _norm_ops(model: nn.Module, size: int) -> int:
    """Operations fvcore charges for normalization: 1 per BatchNorm input element,
    5 per LayerNorm input element, 1 per adaptive-pool input element."""
    total = 0
    weights = ((nn.BatchNorm2d, 1), (nn.LayerNorm, 5), (nn.AdaptiveAvgPool2d, 1))

    def hook(weight: int):
        def add(_module: nn.Module, inputs: tuple, _output: torch.Tensor) -> None:
            nonlocal total
            total += weight * inputs[0].numel()

        return add

    handles = [m.register_forward_hook(hook(w)) for m in model.modules() for kind, w in weights
               if isinstance(m, kind)]
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    for h in handles:
        h.remove()
    return total


def _unfused_reference(name: str) -> nn.Module:
    """timm's model with its attention on the explicit-matmul path, as ours computes it.

    timm routes attention through F.scaled_dot_product_attention when it can, and FlopCounterMode's count of that
    fused kernel changes between torch/timm releases (timm 1.0.31 + torch 2.14.1 gave 329.2M for xxs against
    407.4M for the same arithmetic unfused). Pinning the path makes the test check our model, not the counter.
    """
    import timm

    ref = timm.create_model(name, pretrained=False)
    switched = 0
    for module in ref.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = False
            switched += 1
    # timm renaming the switch would otherwise silently bring the fused count back
    assert switched > 0, f"timm's {name} has no attention module with a fused_attn switch"
    return ref


# Reference: timm mobilevit_* (paper params 1.3M / 2.3M / 5.6M). Published MACs at 256 px:
# 0.42 / 1.05 / 2.03 G (mmpretrain model zoo, configs/mobilevit/README.md, for the official
# ml-cvnets weights; timm's benchmark lists the same). Those are fvcore counts, which also
# charge normalization layers; FlopCounterMode counts only conv/linear/matmul, so for the small
# variants the raw count is 3.0% (xxs) and 2.3% (xs) below the published figure, and the timm
# reference measures exactly the same as ours. The test therefore checks (1) equality with
# the reference's count and (2) the published figure within 2% once the normalization
# operations are added the way fvcore counts them.
@pytest.mark.parametrize(
    "variant, paper_params_m, published_macs_m",
    [("xxs", 1.3, 420), ("xs", 2.3, 1050), ("s", 5.6, 2030)],
)
def test_mobilevit_fidelity(variant: str, paper_params_m: float, published_macs_m: float) -> None:
    name = f"mobilevit_{variant}"
    ours = create_model(name)
    ref = _unfused_reference(name)
    assert count_params(ours) == count_params(ref)
    assert round(count_params(ours) / 1e6, 1) == paper_params_m
    assert model_info(name)["paper_macs_m"] == published_macs_m
    macs = count_macs(ours, 256)
    assert macs == count_macs(ref, 256)
    fvcore_style = macs + _norm_ops(ours, 256)
    assert abs(fvcore_style / 1e6 - published_macs_m) / published_macs_m < 0.02


@pytest.mark.parametrize("size", [28, 32])
def test_mobilevit_small_input(size: int) -> None:
    model = create_model("mobilevit_xxs", small_input=True, in_chans=1, num_classes=10, input_size=size)
    assert model.total_stride == 8 and model.default_input == 256 and model.num_features == 320
    x = torch.randn(2, 1, size, size)
    assert model.forward_features(x).shape == (2, 320, -(-size // 8), -(-size // 8))
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert model.stem.conv.weight.grad.abs().sum() > 0


def test_mobilevit_width_and_errors() -> None:
    half = create_model("mobilevit_s", width_mult=0.5, num_classes=10)
    assert half.num_features == 320 and half.stages[4][1].transformer_dim == 120
    with pytest.raises(ValueError, match="width_mult"):
        create_model("mobilevit_s", width_mult=-1)
    with pytest.raises(ValueError, match="input_size=16"):
        create_model("mobilevit_s", input_size=16)
    with pytest.raises(ValueError, match="num_heads=5"):
        create_model("mobilevit_xxs", num_heads=5)
