"""Regret of the search strategies on a synthetic objective with a known optimum.

    python -m nas.benchmarks.regret                      # 10 seeds, 100 trials, random / evolution / tpe
    python -m nas.benchmarks.regret --seeds 20 --trials 200 --strategies random tpe nsga2 gp \
        "evolution:preset=aging,population=20,sample_size=5"

The objective is a function of the architecture only: a hidden target network of the space (drawn from the
seed) and a random positive weight per gene; the score is the weighted share of the target's active genes an
architecture matches, 1.0 exactly at the target. Regret after n trials = 1 - the best score among the first n.
No network is built or trained, so the table measures the strategies and nothing else.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from nas.arch import Arch
from nas.search import SearchSettings, TrialContext, run_search
from nas.spaces import SearchSpace, make_space


class SyntheticObjective:
    """``score(arch)`` in [0, 1], 1 only at ``target``."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        rng = random.Random(10_000 + seed)
        self.target = space.sample(rng)
        self.weights = {g: rng.uniform(0.5, 1.5) for g, _ in self.target.genes}
        self.total = sum(self.weights.values())

    def score(self, arch: Arch) -> float:
        genes = arch.gene_dict
        return sum(w for g, w in self.weights.items() if genes.get(g) == self.target[g]) / self.total

    def __call__(self, arch: Arch, ctx: TrialContext) -> dict[str, Any]:
        return {"val_top1": 100.0 * self.score(arch)}


def parse_strategy(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``"evolution:preset=aging,population=20"`` -> (label, name, options)."""
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key] = int(value)
        except ValueError:
            try:
                options[key] = float(value)
            except ValueError:
                options[key] = value
    return spec, name, options


def regret_curve(space: SearchSpace, strategy: str, options: Mapping[str, Any], seed: int, trials: int) -> list[float]:
    """Regret after each trial (1 - best score so far)."""
    objective = SyntheticObjective(space, seed)
    settings = SearchSettings(objectives=["accuracy"], strategy=strategy, strategy_options=dict(options),
                              n_trials=trials, seed=seed, study_name=f"regret-{strategy}-{seed}",
                              gc_after_trial=False)
    result = run_search(space, objective, settings, optuna.storages.InMemoryStorage())
    best, curve = 0.0, []
    for t in sorted(result.study.trials, key=lambda t: t.number):
        if t.value is not None:
            best = max(best, t.value / 100.0)
        curve.append(1.0 - best)
    return curve


def regret_table(space: SearchSpace, strategies: Sequence[str], seeds: int, trials: int,
                 checkpoints: Sequence[int] | None = None) -> dict[str, dict[int, list[float]]]:
    """strategy label -> n -> regrets over seeds."""
    checkpoints = sorted({min(c, trials) for c in (checkpoints or (trials // 4, trials // 2, trials))})
    table: dict[str, dict[int, list[float]]] = {}
    for spec in strategies:
        label, name, options = parse_strategy(spec)
        rows: dict[int, list[float]] = {n: [] for n in checkpoints}
        for seed in range(seeds):
            curve = regret_curve(space, name, options, seed, trials)
            for n in checkpoints:
                rows[n].append(curve[n - 1])
        table[label] = rows
    return table


def format_table(table: Mapping[str, Mapping[int, Sequence[float]]]) -> str:
    checkpoints = sorted(next(iter(table.values())))
    head = f"{'strategy':<44}" + "".join(f"{'n=' + str(n) + ' median (IQR)':>26}" for n in checkpoints)
    lines = [head, "-" * len(head)]
    for label, rows in table.items():
        cells = []
        for n in checkpoints:
            r = sorted(rows[n])
            q = statistics.quantiles(r, n=4) if len(r) > 1 else [r[0], r[0], r[0]]
            cells.append(f"{statistics.median(r):.3f} ({q[0]:.3f}-{q[2]:.3f})".rjust(26))
        lines.append(f"{label:<44}" + "".join(cells))
    return "\n".join(lines)


DEFAULT_STRATEGIES = ("random", "evolution:preset=aging,population=20,sample_size=5",
                      "evolution:preset=spos,population=20,parents=5,n_mutation=10", "tpe")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", default="shufflenet")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES))
    args = p.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = make_space(args.space)
    t0 = time.perf_counter()
    table = regret_table(space, args.strategies, args.seeds, args.trials)
    print(f"regret (1 - best score; 0 = the known optimum) on space '{space.name}' ({len(space.dimensions())} "
          f"genes, {space.size():.3g} networks), {args.seeds} seeds, {args.trials} trials, "
          f"{time.perf_counter() - t0:.0f} s")
    print(format_table(table))


if __name__ == "__main__":
    main()
