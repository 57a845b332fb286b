"""The training loop shared by every experiment (train, QAT, fine-tuning after pruning, distillation)."""

from experiments.training.evaluate import evaluate
from experiments.training.loop import Callback, NonFiniteLossError, fit

__all__ = ["Callback", "NonFiniteLossError", "evaluate", "fit"]
