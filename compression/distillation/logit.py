"""Logit distillation (Hinton et al. 2015): match the teacher's temperature-softened outputs.

``LogitDistillation`` is a training criterion ``(logits, targets, inputs) -> loss`` for
``experiments.training.fit``: it runs the frozen teacher on the same inputs, so it works
for plain training, fine-tuning after pruning and QAT alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_temperature_alpha(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise ValueError(f"distillation temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distillation alpha must be in [0, 1], got {alpha}")


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), averaged over the batch.

    The T^2 keeps the soft term's gradient scale independent of T (Hinton et al., Sec. 2),
    so alpha means the same at every temperature.
    """
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def freeze(model: nn.Module) -> nn.Module:
    """A teacher: eval mode (BN statistics fixed) and no gradients."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class LogitDistillation:
    """``alpha * soft_kl(student, teacher, T) + (1 - alpha) * CE(student, labels)``."""

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.9) -> None:
        check_temperature_alpha(temperature, alpha)
        self.teacher = freeze(teacher)
        self.temperature, self.alpha = temperature, alpha

    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        self.teacher.eval()  # fit() may have put every module in train mode
        with torch.no_grad():
            return self.teacher(inputs)

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        soft = soft_kl(logits, self.teacher_logits(inputs), self.temperature)
        hard = F.cross_entropy(logits, targets)
        return self.alpha * soft + (1.0 - self.alpha) * hard
