import torch
from torch import nn

from compression.quantization.bn_fold import fold_batchnorm
from tests.compression.quantization.helpers import SmallNet, randomize_bn


def test_folding_is_exact_and_removes_every_bn():
    torch.manual_seed(0)
    model = randomize_bn(SmallNet())
    x = torch.randn(4, 1, 12, 12)
    with torch.no_grad():
        before = model(x)
        assert fold_batchnorm(model) == 3
        after = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_folding_into_conv_transpose_uses_axis_1():
    torch.manual_seed(0)
    model = randomize_bn(nn.Sequential(nn.ConvTranspose2d(3, 5, 3, stride=2), nn.BatchNorm2d(5)))
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        before = model(x)
        assert fold_batchnorm(model) == 1
        torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
