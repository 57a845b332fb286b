"""Knowledge distillation as training criteria ``(logits, targets, inputs) -> loss`` for
``experiments.training.fit``: logit (Hinton), feature (FitNets, learned adapters) and
deep mutual learning. The same criteria serve plain training, fine-tuning after pruning
and QAT, since all three train through ``fit``."""

from compression.distillation.feature import DistillationStudent, FeatureDistillation
from compression.distillation.logit import LogitDistillation, freeze, soft_kl
from compression.distillation.mutual import MutualLearning, MutualPair

__all__ = [
    "DistillationStudent",
    "FeatureDistillation",
    "LogitDistillation",
    "MutualLearning",
    "MutualPair",
    "freeze",
    "soft_kl",
]
