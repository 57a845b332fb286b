"""Search strategies by name. A multi-trial strategy is an Optuna sampler (ours or Optuna's), so that every
strategy shares the study's storage, resume and scale-out; constraints reach the constrained samplers (TPE,
NSGA-II, GP, evolution) through ``trial.set_constraint``.

    random     RandomSampler
    evolution  EvolutionSampler (presets ofa | spos | aging)
    tpe        TPESampler (multivariate; Optuna's multi-objective default)
    nsga2      NSGAIISampler
    gp         GPSampler

The one-shot supernet will be one more entry: a strategy whose candidates are evaluated with inherited weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from configs.registry import Registry
from nas.strategies.evolution import PRESETS, EvolutionSampler, EvolutionSettings, evolution_settings, rank_trials


@dataclass(frozen=True)
class Strategy:
    name: str
    make: Callable[..., BaseSampler]
    # every option and its default (``nas.strategy_options``)
    options: dict[str, Any] = field(default_factory=dict)
    kind: str = "multi_trial"

    def sampler(self, seed: int | None, n_objectives: int, options: Mapping[str, Any] | None = None) -> BaseSampler:
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"strategy '{self.name}' has no option {unknown}; its options are "
                             f"{', '.join(sorted(self.options)) or 'none'}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return self.make(seed=seed, n_objectives=n_objectives, **{**self.options, **options})


STRATEGIES: Registry[Strategy] = Registry("search strategy")


def _random(seed: int | None, n_objectives: int) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _tpe(seed: int | None, n_objectives: int, n_startup_trials: int, multivariate: bool,
         constant_liar: bool) -> BaseSampler:
    # constant_liar: workers sharing one storage do not all sample next to the same running trial
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, multivariate=multivariate,
                                      constant_liar=constant_liar)


def _nsga2(seed: int | None, n_objectives: int, population_size: int, mutation_prob: float | None,
           crossover_prob: float) -> BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size, mutation_prob=mutation_prob,
                                         crossover_prob=crossover_prob)


def _gp(seed: int | None, n_objectives: int, n_startup_trials: int) -> BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials)


def _evolution(seed: int | None, n_objectives: int, preset: str, **overrides: Any) -> BaseSampler:
    given = {k: v for k, v in overrides.items() if v is not None}
    return EvolutionSampler(evolution_settings(preset, **given), seed=seed)


for _s in (
    Strategy("random", _random),
    Strategy("tpe", _tpe, {"n_startup_trials": 10, "multivariate": True, "constant_liar": True}),
    Strategy("nsga2", _nsga2, {"population_size": 50, "mutation_prob": None, "crossover_prob": 0.9}),
    Strategy("gp", _gp, {"n_startup_trials": 10}),
    Strategy("evolution", _evolution, {"preset": "ofa", "scheme": None, "population": None, "parents": None,
                                       "n_mutation": None, "mutate_prob": None, "sample_size": None}),
):
    STRATEGIES.add(_s.name, _s)


def make_sampler(name: str, seed: int | None = None, n_objectives: int = 1,
                 options: Mapping[str, Any] | None = None) -> BaseSampler:
    return STRATEGIES.get(name).sampler(seed, n_objectives, options)


__all__ = ["PRESETS", "STRATEGIES", "EvolutionSampler", "EvolutionSettings", "Strategy", "evolution_settings",
           "make_sampler", "rank_trials"]
