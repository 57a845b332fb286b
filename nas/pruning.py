"""Early stopping of bad candidates on their validation curves.

Optuna's own pruners read ``trial.report`` values, which Optuna refuses in multi-objective studies (the usual
accuracy-vs-latency search). ``CurvePruner`` is an Optuna pruner (``BasePruner``) that reads the validation
curves the search stores per trial instead, so the same median / percentile rule stops bad candidates in
single- and multi-objective studies alike: at epoch ``e`` a candidate is stopped when its validation accuracy
is below the ``percentile`` of what the other finished candidates had at epoch ``e``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna.pruners import BasePruner
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

CURVE_ATTR = "curve"


def curve_at(trial: FrozenTrial, step: int) -> float | None:
    for s, v in trial.user_attrs.get(CURVE_ATTR, []):
        if s == step:
            return float(v)
    return None


class CurvePruner(BasePruner):
    """``percentile=50`` is Optuna's MedianPruner rule; higher values are more aggressive (the value must be
    above that share of the others). Nothing is pruned before ``n_startup_trials`` candidates finished the
    step, nor before epoch ``n_warmup_steps``."""

    def __init__(self, percentile: float = 50.0, n_startup_trials: int = 5, n_warmup_steps: int = 0) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"pruner percentile must be in [0, 100], got {percentile}")
        self.percentile, self.n_startup_trials, self.n_warmup_steps = percentile, n_startup_trials, n_warmup_steps

    def should_stop(self, others: Sequence[FrozenTrial], step: int, value: float) -> bool:
        if step < self.n_warmup_steps:
            return False
        seen = [v for v in (curve_at(t, step) for t in others) if v is not None]
        if len(seen) < max(1, self.n_startup_trials):
            return False
        # accuracy is maximized: the bar is the (100 - p)th percentile from the top
        return value < float(np.percentile(seen, self.percentile))

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        curve = trial.user_attrs.get(CURVE_ATTR, [])
        if not curve:
            return False
        step, value = curve[-1]
        others = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                  if t.number != trial.number]
        return self.should_stop(others, int(step), float(value))


def make_pruner(name: str, percentile: float = 50.0, n_startup_trials: int = 5,
                n_warmup_steps: int = 0) -> CurvePruner | None:
    if name == "none":
        return None
    if name == "median":
        return CurvePruner(50.0, n_startup_trials, n_warmup_steps)
    if name == "percentile":
        return CurvePruner(percentile, n_startup_trials, n_warmup_steps)
    raise ValueError(f"unknown pruner {name!r}; valid: median, percentile, none")
