import math

import torch

from compression.quantization import FakeQuantize, LSQFakeQuantize, PACTFakeQuantize, QuantSpec


def frozen(q, x):
    q(x)
    q.set_mode("frozen")
    return q


def test_ste_passes_gradient_inside_the_range_only():
    spec = QuantSpec(8, symmetric=True, signed=True)
    q = FakeQuantize(spec)
    q.set_qparams(torch.tensor([0.1]), torch.tensor([0]))
    q.mode = "frozen"
    x = torch.tensor([0.0, 0.33, -5.0, 12.6, -12.9, 20.0], requires_grad=True)  # range [-12.8, 12.7]
    q(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_lsq_step_gradient_matches_the_paper():
    spec = QuantSpec(4, symmetric=True, signed=True)
    x = torch.tensor([0.12, -0.31, 0.5, 2.0, -3.0, 0.049])
    q = LSQFakeQuantize(spec)
    q.set_qparams(torch.tensor([0.1]), torch.tensor([0]))
    q.mode = "frozen"
    xg = x.clone().requires_grad_(True)
    q(xg).sum().backward()
    s = 0.1
    v = x / s
    # d xhat / d s: -v + round(v) inside, qmin / qmax outside (Esser et al., eq. 3)
    inside = (v >= spec.qmin) & (v <= spec.qmax)
    expected = torch.where(inside, -v + torch.round(v), torch.where(v < spec.qmin, float(spec.qmin), float(spec.qmax)))
    g = 1.0 / math.sqrt(x.numel() * spec.qmax)
    assert torch.allclose(q.step.grad, expected.sum().reshape(1) * g, atol=1e-5)
    assert xg.grad.tolist() == inside.float().tolist()


def test_pact_alpha_gets_the_gradient_of_clipped_values():
    q = PACTFakeQuantize(QuantSpec(8), init_alpha=1.0)
    frozen(q, torch.tensor([0.0, 1.0]))
    x = torch.tensor([-1.0, 0.25, 0.5, 2.0, 3.0], requires_grad=True)
    out = q(x)
    out.sum().backward()
    assert float(out.detach().max()) == float(q.alpha.detach())
    assert float(q.alpha.grad) == 2.0  # two elements above alpha
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
