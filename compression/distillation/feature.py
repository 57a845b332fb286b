"""FitNets feature distillation (Romero et al. 2015) with learned 1x1 adapters.

A student layer is regressed onto a teacher layer through a learned 1x1 conv (or linear
for token features) that maps the student's width to the teacher's; spatial sizes are
matched by adaptive average pooling of the larger map. The adapters are trained with the
student, so they live in ``DistillationStudent`` (student + adapters) which is what
``fit`` trains; ``.student`` is the model to keep, export and deploy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from compression.distillation.hooks import FeatureHooks
from compression.distillation.logit import freeze

Criterion = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _adapter(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> nn.Module:
    if student_feat.dim() == 4:
        return nn.Conv2d(student_feat.shape[1], teacher_feat.shape[1], 1, bias=False)
    return nn.Linear(student_feat.shape[-1], teacher_feat.shape[-1], bias=False)


def _match_spatial(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if student.dim() != 4 or student.shape[-2:] == teacher.shape[-2:]:
        return student, teacher
    size = tuple(min(a, b) for a, b in zip(student.shape[-2:], teacher.shape[-2:]))
    return F.adaptive_avg_pool2d(student, size), F.adaptive_avg_pool2d(teacher, size)


class DistillationStudent(nn.Module):
    """The student plus the adapters that feature distillation trains alongside it."""

    def __init__(self, student: nn.Module, adapters: dict[str, nn.Module]) -> None:
        super().__init__()
        self.student = student
        self.adapters = nn.ModuleDict({k.replace(".", "__"): v for k, v in adapters.items()})

    def adapter(self, student_layer: str) -> nn.Module:
        return self.adapters[student_layer.replace(".", "__")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)


class FeatureDistillation:
    """``base(logits, y, x) + beta * mean_i MSE(adapter_i(student_i), teacher_i)`` over layer pairs.

    ``pairs`` are (student layer, teacher layer) names; ``base`` defaults to cross-entropy
    and can be a ``LogitDistillation`` to combine both. Build it before training: it
    probes both models once on ``example_input`` to size the adapters.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        pairs: Sequence[tuple[str, str]],
        example_input: torch.Tensor,
        beta: float = 1.0,
        base: Criterion | None = None,
    ) -> None:
        if not pairs:
            raise ValueError("feature distillation needs at least one (student layer, teacher layer) pair")
        if beta < 0:
            raise ValueError(f"feature distillation beta must be >= 0, got {beta}")
        self.pairs, self.beta = list(pairs), beta
        self.teacher = freeze(teacher)
        self.student_hooks = FeatureHooks(student, [s for s, _ in pairs], "the student")
        self.teacher_hooks = FeatureHooks(self.teacher, [t for _, t in pairs], "the teacher")
        was_training = student.training
        student.eval()
        with torch.no_grad():
            student(example_input)
            self.teacher(example_input)
        student.train(was_training)
        adapters = {
            s: _adapter(self.student_hooks.features[s], self.teacher_hooks.features[t]) for s, t in self.pairs
        }
        self.model = DistillationStudent(student, adapters)
        self.base = base or (lambda logits, y, x: F.cross_entropy(logits, y))

    def feature_loss(self, inputs: torch.Tensor) -> torch.Tensor:
        self.teacher.eval()
        with torch.no_grad():
            self.teacher(inputs)
        losses = []
        for s, t in self.pairs:
            mapped = self.model.adapter(s)(self.student_hooks.features[s])
            mapped, target = _match_spatial(mapped, self.teacher_hooks.features[t])
            losses.append(F.mse_loss(mapped, target))
        return torch.stack(losses).mean()

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        # the student's features were captured by the forward that produced ``logits``
        return self.base(logits, targets, inputs) + self.beta * self.feature_loss(inputs)

    def close(self) -> None:
        self.student_hooks.remove()
        self.teacher_hooks.remove()
