"""Evolutionary search as an Optuna sampler, so that it shares the study's storage, resume and scale-out with
every other strategy: the population is read from the study's trials at each ``ask``, nothing is kept in the
sampler, and several processes on one storage evolve one population.

Two schemes:

* ``generational`` (OFA, SPOS): once ``population`` candidates are evaluated, each new one is a child of the
  top ``parents`` evaluated so far (kept across generations, which is OFA's and SPOS's elitism): the first
  ``n_mutation`` of each generation of ``population`` by mutation (each gene redrawn with ``mutate_prob``),
  the rest by uniform crossover of two parents.
* ``aging`` (regularized evolution, Real et al. 2019): the population is the ``population`` most recent
  candidates; a tournament of ``sample_size`` of them picks the parent; the child redraws one gene.

The first ``population`` candidates are drawn at random (the independent sampler). A candidate that violates
a constraint ranks below every feasible one (by total violation); with several objectives, candidates rank by
non-dominated front, then by the sum of their per-objective ranks. Pruned candidates rank last.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from nas.pareto import nondominated_ranks


@dataclass(frozen=True)
class EvolutionSettings:
    scheme: str = "generational"  # generational | aging
    population: int = 100
    parents: int = 25
    n_mutation: int = 50
    mutate_prob: float = 0.1
    sample_size: int = 25  # aging only: tournament size

    def __post_init__(self) -> None:
        if self.scheme not in ("generational", "aging"):
            raise ValueError(f"evolution scheme must be generational or aging, got {self.scheme!r}")
        if self.population < 2 or not 1 <= self.parents <= self.population:
            raise ValueError(f"evolution needs population >= 2 and 1 <= parents <= population, got {self}")
        if not 0 <= self.n_mutation <= self.population or not 0.0 < self.mutate_prob <= 1.0:
            raise ValueError(f"evolution needs 0 <= n_mutation <= population and 0 < mutate_prob <= 1, got {self}")
        if not 1 <= self.sample_size <= self.population:
            raise ValueError(f"evolution needs 1 <= sample_size <= population, got {self}")


# the published settings, selectable as ``preset``
PRESETS: dict[str, EvolutionSettings] = {
    # Once-for-All (Cai et al. 2020), its evolution_finder: population 100, parent ratio 0.25,
    # mutation ratio 0.5, mutate prob 0.1
    "ofa": EvolutionSettings("generational", population=100, parents=25, n_mutation=50, mutate_prob=0.1),
    # Single Path One-Shot (Guo et al. 2020): population 50, top 10, 25 mutations + 25 crossovers, prob 0.1
    "spos": EvolutionSettings("generational", population=50, parents=10, n_mutation=25, mutate_prob=0.1),
    # regularized evolution (Real et al. 2019): population 100, tournament 25, one gene per mutation
    "aging": EvolutionSettings("aging", population=100, parents=1, n_mutation=100, mutate_prob=1.0,
                               sample_size=25),
}


def evolution_settings(preset: str = "ofa", **overrides: Any) -> EvolutionSettings:
    if preset not in PRESETS:
        raise ValueError(f"unknown evolution preset {preset!r}; valid: {', '.join(PRESETS)}")
    fields = dict(PRESETS[preset].__dict__)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown evolution options {unknown}; valid: preset, {', '.join(fields)}")
    base = PRESETS[preset]
    fields.update(overrides)
    if "population" in overrides:
        # a preset's ratios carry over to another population size (OFA: top 25 %, half mutations)
        scale = fields["population"] / base.population
        for key in ("parents", "n_mutation", "sample_size"):
            if key not in overrides:
                fields[key] = max(1, min(fields["population"], round(getattr(base, key) * scale)))
    return EvolutionSettings(**fields)


def _violation(t: FrozenTrial) -> float:
    return sum(max(0.0, float(v)) for v in t.constraints.values())


def rank_trials(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> list[FrozenTrial]:
    """Best first: feasible complete trials by front (then summed per-objective rank), infeasible ones by
    violation, pruned ones last (in order of number)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    pruned = [t for t in trials if t not in complete]
    feasible = [t for t in complete if _violation(t) <= 0]
    infeasible = sorted((t for t in complete if _violation(t) > 0), key=_violation)
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions]
    points = [[s * v for s, v in zip(signs, t.values)] for t in feasible]
    fronts = nondominated_ranks(points)
    # per-objective ranks break ties within a front (a cheap stand-in for crowding distance)
    summed = [0] * len(points)
    for k in range(len(signs)):
        for r, i in enumerate(sorted(range(len(points)), key=lambda i: points[i][k])):
            summed[i] += r
    order = sorted(range(len(feasible)), key=lambda i: (fronts[i], summed[i], feasible[i].number))
    return [feasible[i] for i in order] + infeasible + sorted(pruned, key=lambda t: t.number)


class EvolutionSampler(BaseSampler):
    """Evolution over categorical genes (every dimension must be a ``CategoricalDistribution``)."""

    def __init__(self, settings: EvolutionSettings | None = None, seed: int | None = None,
                 max_redraws: int = 50, canonical: Callable[[dict[str, Any]], Hashable] | None = None) -> None:
        self.settings = settings or PRESETS["ofa"]
        # params -> the network they encode: a child that differs only in genes its network does not use (a
        # block beyond its stage's depth) is the same candidate, and is redrawn like an exact repeat
        self.canonical = canonical
        self._rng = random.Random(seed)
        self._random = RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        self._max_redraws = max_redraws

    def reseed_rng(self) -> None:
        self._rng = random.Random()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        space = self._space.calculate(study)
        return {k: d for k, d in space.items() if isinstance(d, CategoricalDistribution)}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        s = self.settings
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if len(done) < s.population:
            return {}
        names = sorted(search_space)

        def key(params: dict[str, Any]) -> Hashable:
            if self.canonical is not None:
                try:
                    return self.canonical(params)
                except (KeyError, ValueError):
                    pass
            return tuple(params.get(n) for n in names)

        seen = {key(t.params) for t in study.get_trials(deepcopy=False) if t.number != trial.number and t.params}
        child: dict[str, Any] = {}
        for attempt in range(self._max_redraws):
            child = self._child(study, done, search_space)
            if attempt >= self._max_redraws // 2:
                # parents this close (a crossover of a network and its own mutant) only recombine into each
                # other: a further mutation leaves the explored set
                child = self._mutate(child, search_space)
            if key(child) not in seen:
                break
        return child

    def _mutate(self, params: dict[str, Any], space: dict[str, BaseDistribution]) -> dict[str, Any]:
        p = self.settings.mutate_prob
        return {k: (self._rng.choice(d.choices) if self._rng.random() < p  # type: ignore[attr-defined]
                    else params.get(k, d.choices[0]))  # type: ignore[attr-defined]
                for k, d in space.items()}

    def _child(self, study: Study, done: list[FrozenTrial],
               space: dict[str, BaseDistribution]) -> dict[str, Any]:
        s = self.settings
        if s.scheme == "aging":
            recent = sorted(done, key=lambda t: t.number)[-s.population:]
            tournament = self._rng.sample(recent, s.sample_size)
            parent = rank_trials(tournament, study.directions)[0]
            child = {k: parent.params[k] for k in space if k in parent.params}
            gene = self._rng.choice(sorted(space))
            choices = [c for c in space[gene].choices if c != child.get(gene)]  # type: ignore[attr-defined]
            if choices:
                child[gene] = self._rng.choice(choices)
            return child
        parents = rank_trials(done, study.directions)[: s.parents]
        position = (len(done) - s.population) % s.population
        if position < s.n_mutation or len(parents) < 2:
            return self._mutate(dict(self._rng.choice(parents).params), space)
        a, b = self._rng.sample(parents, 2)
        return {k: (a if self._rng.random() < 0.5 else b).params.get(k, d.choices[0])  # type: ignore[attr-defined]
                for k, d in space.items()}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)


__all__ = ["PRESETS", "EvolutionSampler", "EvolutionSettings", "evolution_settings", "rank_trials"]
