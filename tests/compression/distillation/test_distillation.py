"""KD losses against a NumPy reference, FitNets adapters and hooks, deep mutual learning,
teachers from a run directory or the registry, and use inside ``fit``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from compression.distillation import (
    FeatureDistillation,
    LogitDistillation,
    MutualLearning,
    MutualPair,
    soft_kl,
)
from experiments.teacher import load_teacher
from experiments.training import fit
from tests.training.conftest import make_bundle, tiny_model, train_cfg

STUDENT = np.array([[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, -0.3, 1.5], [-2.0, 3.0, 1.0, 0.0]])
TEACHER = np.array([[3.0, -2.0, 1.0, 0.5], [0.0, 0.0, 0.0, 2.0], [-1.0, 2.5, 2.0, -1.0]])
LABELS = np.array([0, 3, 1])


def _np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _np_kd(student: np.ndarray, teacher: np.ndarray, temperature: float) -> float:
    p_t, p_s = _np_softmax(teacher / temperature), _np_softmax(student / temperature)
    kl = (p_t * (np.log(p_t) - np.log(p_s))).sum(axis=1).mean()
    return float(kl * temperature**2)


def _np_ce(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(_np_softmax(logits)[np.arange(len(labels)), labels]).mean())


class _Fixed(nn.Module):
    """A 'teacher' that returns fixed logits whatever the input."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_kl_matches_numpy(temperature):
    got = soft_kl(torch.tensor(STUDENT), torch.tensor(TEACHER), temperature)
    assert got.item() == pytest.approx(_np_kd(STUDENT, TEACHER, temperature), rel=1e-6)


@pytest.mark.parametrize(("temperature", "alpha"), [(4.0, 0.9), (2.0, 0.5), (1.0, 0.0), (3.0, 1.0)])
def test_logit_distillation_matches_numpy(temperature, alpha):
    criterion = LogitDistillation(_Fixed(TEACHER), temperature=temperature, alpha=alpha)
    got = criterion(torch.tensor(STUDENT, dtype=torch.float32), torch.tensor(LABELS), torch.zeros(3, 1))
    expected = alpha * _np_kd(STUDENT, TEACHER, temperature) + (1 - alpha) * _np_ce(STUDENT, LABELS)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_logit_distillation_is_zero_soft_loss_when_student_equals_teacher():
    criterion = LogitDistillation(_Fixed(TEACHER), temperature=3.0, alpha=1.0)
    got = criterion(torch.tensor(TEACHER, dtype=torch.float32), torch.tensor(LABELS), torch.zeros(3, 1))
    assert got.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(("temperature", "alpha"), [(0.0, 0.5), (-1.0, 0.5), (2.0, 1.5), (2.0, -0.1)])
def test_bad_temperature_or_alpha_is_rejected(temperature, alpha):
    with pytest.raises(ValueError, match="temperature|alpha"):
        LogitDistillation(_Fixed(TEACHER), temperature=temperature, alpha=alpha)


def test_teacher_is_frozen_and_kept_in_eval_mode():
    teacher = tiny_model(1)
    criterion = LogitDistillation(teacher)
    teacher.train()
    criterion(torch.randn(2, 4), torch.tensor([0, 1]), torch.randn(2, 1, 8, 8))
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())


def _narrow_and_wide():
    torch.manual_seed(0)
    student = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(4, 4))
    teacher = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(16, 4))
    return student, teacher


def test_fitnets_adapts_mismatched_widths_and_sizes():
    student, teacher = _narrow_and_wide()
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    criterion = FeatureDistillation(student, teacher, [("1", "1")], x, beta=2.0)
    adapter = criterion.model.adapter("1")
    assert (adapter.in_channels, adapter.out_channels) == (4, 16)
    logits = criterion.model(x)
    s_feat = student[1](student[0](x))
    t_feat = teacher[1](teacher[0](x))
    mapped = nn.functional.adaptive_avg_pool2d(adapter(s_feat), 4)
    expected = nn.functional.cross_entropy(logits, y) + 2.0 * nn.functional.mse_loss(mapped, t_feat)
    assert criterion(logits, y, x).item() == pytest.approx(expected.item(), rel=1e-5)
    criterion(logits, y, x).backward()
    assert adapter.weight.grad is not None and student[0].weight.grad is not None
    criterion.close()


def test_fitnets_unknown_layer_is_named():
    student, teacher = _narrow_and_wide()
    with pytest.raises(ValueError, match="the teacher has no module named 'features.9'"):
        FeatureDistillation(student, teacher, [("1", "features.9")], torch.randn(1, 1, 8, 8))


def test_mutual_learning_matches_its_definition():
    a, b = tiny_model(0), tiny_model(1)
    pair = MutualPair(a, b).train()
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    torch.manual_seed(0)
    logits = pair(x)
    peer = pair.peer_logits
    criterion = MutualLearning(pair, temperature=1.0, weight=1.0)
    la, lb = logits.detach().numpy(), peer.detach().numpy()
    expected = _np_ce(la, y.numpy()) + _np_kd(la, lb, 1.0) + _np_ce(lb, y.numpy()) + _np_kd(lb, la, 1.0)
    assert criterion(logits, y, x).item() == pytest.approx(expected, rel=1e-5)
    pair.eval()
    pair(x)
    assert pair.peer_logits is None


def test_distillation_criteria_train_inside_fit(tmp_path):
    bundle = make_bundle(n=64)
    cfg = train_cfg(epochs=1)
    teacher = tiny_model(3)
    student = tiny_model(4)
    result = fit(student, bundle, cfg, tmp_path / "kd", criterion=LogitDistillation(teacher, 2.0, 0.5))
    assert np.isfinite(result["history"][-1]["train_loss"])
    pair = MutualPair(tiny_model(5), tiny_model(6))
    result = fit(pair, bundle, cfg, tmp_path / "dml", criterion=MutualLearning(pair))
    assert np.isfinite(result["history"][-1]["train_loss"])
    x = next(iter(bundle.train_loader))[0]
    fitnets = FeatureDistillation(tiny_model(7), tiny_model(8), [("2", "2")], x)
    result = fit(fitnets.model, bundle, cfg, tmp_path / "fitnets", criterion=fitnets)
    assert np.isfinite(result["history"][-1]["train_loss"])


def test_teacher_from_registry_and_from_missing_run_dir(tmp_path):
    teacher = load_teacher("simple_cnn", num_classes=10, in_chans=1, small_input=True, input_size=28)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        load_teacher(str(tmp_path / "run"))


def test_teacher_from_a_training_run_directory(tmp_path):
    from omegaconf import OmegaConf

    from configs.schema import ModelConfig
    from experiments.runs import RunDir
    from lightweight_models import create_model

    model_cfg = OmegaConf.structured(ModelConfig)
    model_cfg.merge_with({"name": "simple_cnn", "num_classes": 10, "input_size": 28})
    run = RunDir(tmp_path / "teacher_run")
    run.write_config(OmegaConf.create({"model": model_cfg}))
    torch.manual_seed(5)
    trained = create_model("simple_cnn", num_classes=10, in_chans=1, small_input=True, input_size=28)
    run.save_checkpoint({"model": trained.state_dict()}, "best")
    teacher = load_teacher(str(run.path))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), trained.eval()(x))
    assert not any(p.requires_grad for p in teacher.parameters())
