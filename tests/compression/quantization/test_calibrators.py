import pytest
import torch

from compression.quantization import CalibrationError, QuantSpec
from compression.quantization.calibrators import CALIBRATORS, build_calibrator

SYM8 = QuantSpec(8, symmetric=True, signed=True)


def heavy_tailed(n=50_000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    # Laplace body plus a few large outliers
    x = torch.distributions.Laplace(0.0, 1.0).sample((n,))
    x[:20] = torch.randn(20, generator=gen) * 60
    return x


def observed(name, x, **kwargs):
    cal = build_calibrator(name, **kwargs)
    for chunk in x.chunk(4):
        cal.observe(chunk, None)
    return cal


def test_minmax_is_the_full_range():
    x = heavy_tailed()
    lo, hi = observed("minmax", x).range(SYM8)
    assert float(lo) == float(x.min()) and float(hi) == float(x.max())


@pytest.mark.parametrize(
    "name,spec,at_most", [("entropy", SYM8, 0.5), ("mse", SYM8, 0.9), ("mse", QuantSpec(4, True, True), 0.6)]
)
def test_kl_and_mse_clip_heavy_tails(name, spec, at_most):
    torch.manual_seed(0)
    # MSE trades clipping error against rounding error: at 8 bits outliers of 60 sigma are worth keeping,
    # so its heavy-tailed case is the pure Laplace body
    x = heavy_tailed() if name == "entropy" else torch.distributions.Laplace(0.0, 1.0).sample((50_000,))
    amax = float(x.abs().max())
    lo, hi = observed(name, x).range(spec)
    assert 1.0 < float(hi) < at_most * amax
    assert float(lo) == pytest.approx(-float(hi))


def test_percentile_picks_the_quantile():
    x = torch.linspace(0, 100, 100_001)
    lo, hi = observed("percentile", x, percentile=99.0).range(QuantSpec(8))
    assert float(hi) == pytest.approx(99.0, abs=0.05)
    assert float(lo) == pytest.approx(1.0, abs=0.05)


def test_moving_average_follows_batches():
    cal = build_calibrator("moving_average", momentum=0.5)
    cal.observe(torch.tensor([-1.0, 1.0]), None)
    cal.observe(torch.tensor([-3.0, 3.0]), None)
    lo, hi = cal.range(SYM8)
    assert (float(lo), float(hi)) == (-2.0, 2.0)


def test_per_channel_ranges():
    x = torch.stack([torch.linspace(-1, 1, 100), torch.linspace(-5, 5, 100)])
    cal = build_calibrator("minmax")
    cal.observe(x, 0)
    lo, hi = cal.range(SYM8)
    assert lo.tolist() == [-1.0, -5.0] and hi.tolist() == [1.0, 5.0]


@pytest.mark.parametrize("name", CALIBRATORS.names())
def test_zero_batches_is_a_clear_error(name):
    with pytest.raises(CalibrationError, match="zero batches"):
        build_calibrator(name).range(SYM8)


def test_entropy_ignores_the_zero_spike_of_relu_outputs():
    torch.manual_seed(0)
    body = torch.distributions.Exponential(1.0).sample((20_000,))
    relu_like = torch.cat((torch.zeros(60_000), body))  # 75% exact zeros, as after a ReLU
    lo_body, hi_body = observed("entropy", body).range(QuantSpec(8))
    lo, hi = observed("entropy", relu_like).range(QuantSpec(8))
    assert float(lo) == 0.0
    assert float(hi) == pytest.approx(float(hi_body), rel=0.05)


def test_entropy_on_an_affine_grid_keeps_each_side_of_a_normalized_image():
    torch.manual_seed(0)
    background = torch.full((30_000,), -0.8)  # most pixels: one value below zero
    foreground = torch.rand(10_000) * 2.8 - 0.8  # the rest spread up to +2.0
    lo, hi = observed("entropy", torch.cat((background, foreground))).range(QuantSpec(8))
    assert float(lo) == pytest.approx(-0.8, abs=0.01)
    assert float(hi) > 1.5  # |x| statistics would have clipped the foreground at 0.8
