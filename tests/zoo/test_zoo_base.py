"""The pieces every zoo family shares: argument checks, channel rule, stride plan, layout."""

import pytest
import torch

from lightweight_models import create_model
from lightweight_models.args import Widths, check_common_args
from lightweight_models.base import plan_strides


def test_stride_plan_keeps_the_first_stride_two_block_for_small_inputs():
    big = plan_strides([[1], [2, 1], [2]], small_input=False)
    small = plan_strides([[1], [2, 1], [2]], small_input=True)
    assert (big.stem, big.blocks, big.total) == (2, [[1], [2, 1], [2]], 8)
    assert (small.stem, small.blocks, small.total) == (1, [[1], [1, 1], [2]], 2)


def test_stride_plan_without_a_stride_two_block_is_rejected_for_small_inputs():
    with pytest.raises(ValueError, match="small_input"):
        plan_strides([[1, 1]], small_input=True)


def test_widths_scale_and_round_like_make_divisible():
    chs = Widths(0.5, 8)
    assert chs(32) == 16 and chs(100) == 48 and chs.round(100) == 104
    assert chs.with_divisor(12)(100) == 48 and chs.with_divisor(12).mult == 0.5


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"num_classes": 0}, "num_classes"), ({"in_chans": 1.5}, "in_chans"),
     ({"round_divisor": 0}, "round_divisor"), ({"width_mult": 0.0}, "width_mult")],
)
def test_common_args_name_the_bad_argument(kwargs, name):
    args = {"num_classes": 10, "in_chans": 3, "width_mult": 1.0, "round_divisor": 8} | kwargs
    with pytest.raises(ValueError, match=name):
        check_common_args(**args)


@pytest.mark.parametrize("name", ["simple_cnn", "mobilenetv3_small", "squeezenet1_1"])
def test_forward_is_the_head_applied_to_the_features(name):
    model = create_model(name, in_chans=1, num_classes=5, small_input=True).eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model.forward_head(model.forward_features(x)))


def test_every_family_module_is_in_the_explicit_import_list():
    from pathlib import Path

    import lightweight_models.models as pkg

    modules = {p.stem for p in Path(pkg.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert set(pkg.__all__) == modules, "add the module to lightweight_models/models/__init__.py"
