"""Strategies: published evolution settings, the evolution sampler's children, and regret on a known optimum."""

from __future__ import annotations

import statistics

import optuna
import pytest

from configs.registry import UnknownNameError
from nas import SearchSettings, make_sampler, run_search
from nas.benchmarks.regret import regret_curve
from nas.spaces import make_space
from nas.strategies import PRESETS, STRATEGIES, evolution_settings


def test_presets_match_the_papers():
    ofa, spos = PRESETS["ofa"], PRESETS["spos"]
    assert (ofa.population, ofa.parents, ofa.n_mutation, ofa.mutate_prob) == (100, 25, 50, 0.1)
    assert (spos.population, spos.parents, spos.n_mutation, spos.population - spos.n_mutation,
            spos.mutate_prob) == (50, 10, 25, 25, 0.1)
    scaled = evolution_settings("ofa", population=20)
    assert (scaled.parents, scaled.n_mutation) == (5, 10)


def test_unknown_strategy_and_options_are_named():
    with pytest.raises(UnknownNameError) as err:
        make_sampler("evolutoin")
    assert all(n in str(err.value) for n in STRATEGIES.names())
    with pytest.raises(ValueError, match="population_size"):
        make_sampler("nsga2", options={"population": 3})
    with pytest.raises(ValueError, match="ofa, spos, aging"):
        make_sampler("evolution", options={"preset": "darts"})


@pytest.mark.parametrize("name", ["random", "tpe", "nsga2", "gp", "evolution"])
def test_every_strategy_drives_a_constrained_two_objective_study(name):
    space = make_space("shufflenet", stage_channels=[32], stage_layers=[3], scales=[0.5, 1.0], resolutions=[16])

    def evaluate(arch, ctx):
        xc = sum(1 for k, v in arch.genes if k.endswith(".block") and v == "xception")
        return {"val_top1": 50.0 + 10 * xc, "latency_ms": 1.0 + xc + sum(float(v) for k, v in arch.genes
                                                                       if k.endswith(".scale"))}

    options = {"evolution": {"population": 4}, "nsga2": {"population_size": 4}, "gp": {"n_startup_trials": 3},
               "tpe": {"n_startup_trials": 3}}.get(name, {})
    settings = SearchSettings(objectives=["accuracy", "latency"], constraints=["latency<=4.5"], strategy=name,
                              strategy_options=options, n_trials=8, gc_after_trial=False)
    result = run_search(space, evaluate, settings, optuna.storages.InMemoryStorage())
    done = result.trials()
    assert len(done) == 8
    assert all("constraints" in str(t.system_attrs) or t.constraints for t in done)
    assert any(all(v <= 0 for v in t.constraints.values()) for t in done)


def test_generational_children_come_from_the_top_parents():
    # population 6, top 2: with mutate_prob 0.1 most genes of a mutated child equal one of the two parents'
    space = make_space("shufflenet", stage_channels=[32, 64], stage_layers=[3, 3], resolutions=[16])
    settings = SearchSettings(objectives=["accuracy"], strategy="evolution",
                              strategy_options={"preset": "ofa", "population": 6, "parents": 2, "n_mutation": 6},
                              n_trials=10, gc_after_trial=False)
    score = {}

    def evaluate(arch, ctx):
        score[ctx.number] = float(sum(v == "xception" for _, v in arch.genes))
        return {"val_top1": score[ctx.number]}

    result = run_search(space, evaluate, settings, optuna.storages.InMemoryStorage())
    trials = sorted(result.study.trials, key=lambda t: t.number)
    first = trials[:6]
    top = sorted(first, key=lambda t: (-t.value, t.number))[:2]
    for child in trials[6:]:
        same = max(sum(child.params[k] == p.params[k] for k in child.params) for p in top)
        assert same >= len(child.params) - 4, (child.number, same)


def test_evolution_and_tpe_beat_random_on_a_known_optimum():
    # the fast version of `python -m nas.benchmarks.regret`: 4 seeds, 60 trials, a 30-gene space
    space = make_space("shufflenet", stage_channels=[32, 64, 128], stage_layers=[5, 5, 5], resolutions=[16],
                       scales=[0.5, 0.75, 1.0])
    trials, seeds = 60, range(4)

    def median_regret(name, options):
        return statistics.median(regret_curve(space, name, options, s, trials)[-1] for s in seeds)

    random_ = median_regret("random", {})
    evolution = median_regret("evolution", {"preset": "spos", "population": 20, "parents": 5, "n_mutation": 10})
    tpe = median_regret("tpe", {"n_startup_trials": 10})
    assert evolution < random_ - 0.03, (evolution, random_)
    assert tpe < random_ - 0.03, (tpe, random_)
