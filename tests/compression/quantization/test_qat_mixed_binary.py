import pytest
import torch
from torch import nn

from compression.quantization import QuantConfig, QuantSpec, TensorQuant, calibrate, quantize_model, set_quant_mode
from compression.quantization.binary import BinaryWeight, binarize_model
from compression.quantization.insert import UnsupportedLayerError
from compression.quantization.mixed_precision import Sensitivity, assign_bits, layer_sensitivity
from compression.quantization.qat import FreezeBatchNorm, QuantizedConvBn, attach_batchnorm, distillation_loss
from tests.compression.quantization.helpers import SmallNet, randomize_bn

W8 = TensorQuant(QuantSpec(8, True, True, per_channel=True))


def test_folded_bn_qat_matches_folding_in_eval_and_freezes():
    torch.manual_seed(0)
    model = randomize_bn(SmallNet(8))
    x = torch.randn(8, 1, 10, 10)
    q, _ = quantize_model(model, QuantConfig(fold_bn=False), x)
    assert attach_batchnorm(q) == 3
    calibrate(q, [x], 1)
    q.train()
    set_quant_mode(q, "track")
    convbn = q.get_submodule("stem.0")
    assert isinstance(convbn, QuantizedConvBn)
    mean_before = convbn.bn.running_mean.clone()
    q(x)
    assert not torch.equal(convbn.bn.running_mean, mean_before)  # statistics still update
    FreezeBatchNorm(1).on_epoch_start(1, q)
    frozen = convbn.bn.running_mean.clone()
    q(x)
    assert torch.equal(convbn.bn.running_mean, frozen)
    q.eval()
    with torch.no_grad():
        out = q(x)
        convbn.fold_for_deploy()
        assert type(convbn).__name__ == "QuantizedLayer"
        torch.testing.assert_close(q(x), out, rtol=1e-4, atol=1e-4)


def test_distillation_loss_is_ce_at_weight_zero_and_kl_at_one():
    torch.manual_seed(0)
    teacher = nn.Linear(4, 3)
    x, y, logits = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]), torch.randn(5, 3)
    ce = nn.functional.cross_entropy(logits, y)
    assert torch.isclose(distillation_loss(teacher, 0.0, 2.0)(logits, y, x), ce)
    assert float(distillation_loss(teacher, 1.0, 2.0)(teacher(x).detach(), y, x)) == pytest.approx(0.0, abs=1e-6)


def test_sensitivity_table_and_budgeted_assignment():
    torch.manual_seed(0)
    model = randomize_bn(SmallNet(8))
    x = torch.randn(8, 1, 10, 10)
    rows = layer_sensitivity(model, W8, [8, 4, 2], x, accuracy=lambda m: 50.0)
    assert len(rows) == 4 * 3
    by = {(r.layer, r.bits): r for r in rows}
    assert all(by[n, 8].sqnr_db > by[n, 2].sqnr_db for n, _ in by)
    params = {r.layer: r.params for r in rows}
    budget = sum(params.values()) * 5 / 8  # on average 5 bits
    bits = assign_bits(rows, budget)
    assert sum(params[n] * b / 8 for n, b in bits.items()) <= budget
    assert set(bits.values()) <= {8, 4, 2} and len(set(bits.values())) > 1
    with pytest.raises(ValueError, match="unreachable"):
        assign_bits(rows, sum(params.values()) * 1 / 8)


def test_assignment_lowers_the_least_sensitive_layer_first():
    rows = [Sensitivity("a", 100, 8, 0, 40), Sensitivity("a", 100, 4, 0, 30),
            Sensitivity("b", 100, 8, 0, 40), Sensitivity("b", 100, 4, 0, 10)]
    assert assign_bits(rows, budget_bytes=150) == {"a": 4, "b": 8}


@pytest.mark.parametrize("kind,levels", [("xnor", 2), ("bnn", 2), ("twn", 3)])
def test_binary_and_ternary_weights(kind, levels):
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    q = BinaryWeight(kind, 0, 4)
    out = q(w)
    for c in range(4):
        assert len(torch.unique(out[c].detach())) <= levels
    if kind == "xnor":
        torch.testing.assert_close(out[0].abs().detach(), w[0].abs().mean().detach().expand(3, 3, 3))
    out.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0  # straight-through gradient reaches the weights


def test_binary_keeps_first_and_last_and_names_unsupported_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ConvTranspose2d(4, 4, 2), nn.Conv2d(4, 4, 3), nn.Flatten(),
                          nn.LazyLinear(3))
    x = torch.randn(1, 1, 8, 8)
    model(x)
    q, _ = quantize_model(model, QuantConfig(weight=W8, functional=False), x)
    with pytest.raises(UnsupportedLayerError, match="'1' is a ConvTranspose2d"):
        binarize_model(q, "xnor", {"0", "4"}, None)
    q2, _ = quantize_model(model, QuantConfig(weight=W8, functional=False), x)
    assert binarize_model(q2, "twn", {"0", "1", "4"}, None) == ["2"]
