"""The multi-trial search loop: Optuna study in, evaluated architectures out.

The caller injects ``evaluate(arch, ctx) -> metrics``: ``nas`` knows spaces, strategies, objectives,
constraints and storage, and nothing of data or training (``experiments.search`` wires those in; the regret
benchmark injects a synthetic function). The evaluation reports its figures as it gets them
(``ctx.record``): latency and size first, so that a candidate that breaks a constraint on them is stopped
before it is trained (``skip_infeasible``); then its validation curve (``ctx.report``), which the pruner may cut.

Every trial stores its arch (JSON), its metrics and its constraint values (``trial.set_constraint``) in the
study, and ``trials/<number>/arch.json`` and ``metrics.json`` in the run directory. The budget counts finished
candidates (complete or pruned), so a resumed search runs only what is missing.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from export.atomic import write_atomically
from nas.arch import Arch
from nas.objectives import Constraint, Objective, constraints, objectives, values
from nas.pruning import CURVE_ATTR, CurvePruner
from nas.spaces import SearchSpace
from nas.strategies import EvolutionSampler, make_sampler

ARCH_ATTR, METRICS_ATTR, DIGEST_ATTR = "arch", "metrics", "arch_digest"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class CandidateInfeasible(optuna.TrialPruned):
    """A candidate stopped before training because a measured figure breaks a constraint."""


class InfeasibleSearchError(RuntimeError):
    """No candidate met the constraints; the message names the constraint(s) and the best value seen."""


class StudyMismatchError(ValueError):
    """The storage holds a study of this name with other objectives or another space."""


@dataclass
class SearchSettings:
    objectives: list[str] = field(default_factory=lambda: ["accuracy", "latency"])
    constraints: list[str] = field(default_factory=list)
    strategy: str = "evolution"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    n_trials: int = 20
    timeout_s: float | None = None
    seed: int = 0
    study_name: str = "search"
    # stop a candidate whose measured latency / size / MACs already break a constraint, without training it
    skip_infeasible: bool = True
    # end the search when this many candidates finished and none met the constraints (0: never)
    stop_if_infeasible_after: int = 10
    # start from the space's smallest network when there are constraints (the likeliest to meet them)
    enqueue_smallest: bool = True
    # free a trained candidate's memory between trials (costs ~0.1 s with torch loaded: off for cheap objectives)
    gc_after_trial: bool = True


class TrialContext:
    """What an evaluation sees of its trial: where to write, and where to report figures and curves."""

    def __init__(self, trial: Trial, arch: Arch, directory: Path | None, cons: Sequence[Constraint],
                 pruner: CurvePruner | None, skip_infeasible: bool) -> None:
        self.trial, self.arch, self.directory = trial, arch, directory
        self.metrics: dict[str, Any] = {}
        self.curve: list[list[float]] = []
        self._cons, self._pruner, self._skip = cons, pruner, skip_infeasible

    @property
    def number(self) -> int:
        return self.trial.number

    def record(self, metrics: Mapping[str, Any]) -> None:
        """Add figures; raises ``CandidateInfeasible`` when one breaks a constraint (with ``skip_infeasible``)."""
        self.metrics.update(metrics)
        self.trial.set_user_attr(METRICS_ATTR, _plain(self.metrics))
        if self._skip:
            broken = [c.text for c in self._cons if (c.violation(self.metrics) or 0.0) > 0]
            if broken:
                raise CandidateInfeasible(f"breaks {', '.join(broken)} before training")

    def report(self, step: int, value: float) -> None:
        """One point of the validation curve (accuracy, %); raises ``optuna.TrialPruned`` when the pruner
        stops the candidate."""
        self.curve.append([int(step), float(value)])
        self.trial.set_user_attr(CURVE_ATTR, self.curve)
        if self._pruner is None:
            return
        study = self.trial.study
        others = [t for t in study.get_trials(deepcopy=False, states=FINISHED) if t.number != self.number]
        if self._pruner.should_stop(others, int(step), float(value)):
            raise optuna.TrialPruned(f"validation top-1 {value:.2f} at epoch {step} is below the pruner's bar")


Evaluate = Callable[[Arch, TrialContext], Mapping[str, Any]]


@dataclass
class SearchResult:
    study: optuna.Study
    objectives: list[Objective]
    constraints: list[Constraint]
    ran: int
    stopped_infeasible: bool = False

    def trials(self) -> list[FrozenTrial]:
        return finished_trials(self.study)


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=FINISHED) if ARCH_ATTR in t.user_attrs]


def feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and all(v <= 0 for v in trial.constraints.values())


def _plain(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(metrics), default=str))


def _write_json(path: Path, obj: Any) -> None:
    write_atomically(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def infeasibility_message(trials: Sequence[FrozenTrial], cons: Sequence[Constraint]) -> str:
    """Which constraints no candidate met, and the best value seen for each."""
    parts = []
    for c in cons:
        seen = [float(t.user_attrs.get(METRICS_ATTR, {}).get(c.metric)) for t in trials
                if t.user_attrs.get(METRICS_ATTR, {}).get(c.metric) is not None]
        met = [v for v in seen if (v - c.bound if c.op == "<=" else c.bound - v) <= 0]
        if seen and met:
            continue
        best = (min(seen) if c.op == "<=" else max(seen)) if seen else None
        parts.append(f"'{c.text}' (best {c.metric} seen: {best:.6g})" if best is not None
                     else f"'{c.text}' ({c.metric} was never measured)")
    what = "; ".join(parts) or "no single constraint, but no candidate met all of " + \
        ", ".join(f"'{c.text}'" for c in cons)
    return (f"no candidate met the constraints after {len(trials)} finished candidates: {what}. "
            f"Relax the constraint or change the space.")


def open_study(storage: BaseStorage, space: SearchSpace, settings: SearchSettings) -> optuna.Study:
    """The study ``settings.study_name`` in ``storage``, created or loaded (then checked to be the same
    search: objectives, constraints, space)."""
    objs = objectives(settings.objectives)
    identity = {"objectives": list(settings.objectives), "space": space.name,
                "space_options": _plain(space.options)}
    names = optuna.get_all_study_names(storage)
    study = optuna.create_study(storage=storage, study_name=settings.study_name, load_if_exists=True,
                                directions=[o.direction for o in objs])
    if settings.study_name in names:
        for key, want in identity.items():
            have = study.user_attrs.get(key)
            if have is not None and have != want:
                raise StudyMismatchError(f"study '{settings.study_name}' in this storage has {key} {have}, this "
                                         f"search asks for {want}; use another nas.study_name or run directory")
    else:
        for key, value in identity.items():
            study.set_user_attr(key, value)
        study.set_user_attr("constraints", list(settings.constraints))
    return study


def run_search(space: SearchSpace, evaluate: Evaluate, settings: SearchSettings, storage: BaseStorage,
               run_dir: str | Path | None = None, pruner: CurvePruner | None = None,
               on_trial: Callable[[FrozenTrial], None] | None = None) -> SearchResult:
    """Run (or continue) the search until ``settings.n_trials`` candidates have finished in the study."""
    objs = objectives(settings.objectives)
    cons = constraints(settings.constraints)
    study = open_study(storage, space, settings)
    finished_before = len(finished_trials(study))
    # a resumed search must not redraw the first run's candidates: its seed moves with the study's length
    study.sampler = make_sampler(settings.strategy, settings.seed + len(study.trials), len(objs),
                                 settings.strategy_options)
    if isinstance(study.sampler, EvolutionSampler):
        study.sampler.canonical = space.arch
    if cons and settings.enqueue_smallest and not study.trials:
        study.enqueue_trial(space.params(space.smallest()))
    directory = Path(run_dir) if run_dir is not None else None
    state = {"infeasible": False}

    def objective(trial: Trial) -> Sequence[float] | float:
        arch = space.suggest(trial)
        trial.set_user_attr(ARCH_ATTR, arch.to_dict())
        trial.set_user_attr(DIGEST_ATTR, arch.digest)
        trial_dir = directory / "trials" / f"{trial.number:04d}" if directory is not None else None
        if trial_dir is not None:
            _write_json(trial_dir / "arch.json", arch.to_dict())
        ctx = TrialContext(trial, arch, trial_dir, cons, pruner, settings.skip_infeasible)
        twin = _evaluated_twin(trial.study, arch.digest, trial.number)
        try:
            if twin is not None:
                # the same network was trained and measured already: its figures stand for this one
                ctx.metrics.update(twin.user_attrs[METRICS_ATTR])
                ctx.metrics["duplicate_of"] = twin.number
                trial.set_user_attr(METRICS_ATTR, _plain(ctx.metrics))
            else:
                ctx.record(evaluate(arch, ctx))
        except optuna.TrialPruned as stop:
            _finish(trial, ctx, cons, trial_dir, status="infeasible" if isinstance(stop, CandidateInfeasible)
                    else "pruned", reason=str(stop))
            raise
        _finish(trial, ctx, cons, trial_dir, status="complete")
        result = values(objs, ctx.metrics)
        return result if len(result) > 1 else result[0]

    def after(study: optuna.Study, trial: FrozenTrial) -> None:
        done = finished_trials(study)
        if on_trial is not None and trial.state in FINISHED:
            on_trial(trial)
        if len(done) >= settings.n_trials:
            study.stop()
        elif cons and settings.stop_if_infeasible_after and len(done) >= settings.stop_if_infeasible_after \
                and not any(feasible(t) for t in done):
            state["infeasible"] = True
            study.stop()

    remaining = settings.n_trials - finished_before
    if remaining > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(objective, n_trials=None, timeout=settings.timeout_s, callbacks=[after],
                           gc_after_trial=settings.gc_after_trial)
    done = finished_trials(study)
    if cons and done and not any(feasible(t) for t in done) and (state["infeasible"] or len(done) >= settings.n_trials):
        raise InfeasibleSearchError(infeasibility_message(done, cons))
    return SearchResult(study, objs, cons, len(done) - finished_before, state["infeasible"])


def _evaluated_twin(study: optuna.Study, digest: str, number: int) -> FrozenTrial | None:
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.number != number and t.user_attrs.get(DIGEST_ATTR) == digest and METRICS_ATTR in t.user_attrs:
            return t
    return None


def _finish(trial: Trial, ctx: TrialContext, cons: Sequence[Constraint], trial_dir: Path | None, status: str,
            reason: str = "") -> None:
    for c in cons:
        v = c.violation(ctx.metrics)
        # unmeasured (a candidate stopped before training has no accuracy): neither met nor broken
        trial.set_constraint(c.key, 0.0 if v is None or math.isnan(v) else v)
    trial.set_user_attr("status", status)
    if reason:
        trial.set_user_attr("reason", reason)
    if trial_dir is not None:
        _write_json(trial_dir / "metrics.json", {"number": trial.number, "status": status, "reason": reason,
                                                 "metrics": _plain(ctx.metrics), "curve": ctx.curve})
