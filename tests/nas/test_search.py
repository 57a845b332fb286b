"""The search loop: constraints, infeasibility, pruning, duplicates, storage, resume."""

from __future__ import annotations

import optuna
import pytest

from nas import (
    InfeasibleSearchError,
    SearchSettings,
    StorageUnreachableError,
    StudyMismatchError,
    open_storage,
    run_search,
)
from nas.pruning import CurvePruner
from nas.spaces import make_space

SPACE = dict(stage_channels=[32, 64], stage_layers=[2, 2], scales=[0.5, 1.0], resolutions=[16])


def space():
    return make_space("shufflenet", **SPACE)


def fake_latency(arch):
    return 1.0 + sum(float(v) for k, v in arch.genes if k.endswith(".scale"))


class Fake:
    """Latency first (``ctx.record``), then a 'training' curve; counts what it trained."""

    def __init__(self):
        self.trained = []

    def __call__(self, arch, ctx):
        ctx.record({"latency_ms": fake_latency(arch), "params": 1000})
        self.trained.append(ctx.number)
        acc = 10.0 * sum(v == "xception" for _, v in arch.genes)
        for epoch in range(2):
            ctx.report(epoch, acc + epoch)
        return {"val_top1": acc + 1}


def settings(**kw):
    base = dict(objectives=["accuracy", "latency"], strategy="random", n_trials=6, gc_after_trial=False)
    return SearchSettings(**{**base, **kw})


def test_trials_write_arch_and_metrics(tmp_path):
    storage = open_storage(None, tmp_path)
    result = run_search(space(), Fake(), settings(), storage, tmp_path)
    assert (tmp_path / "study.db").is_file() and len(result.trials()) == 6
    for t in result.trials():
        d = tmp_path / "trials" / f"{t.number:04d}"
        assert (d / "arch.json").is_file() and (d / "metrics.json").is_file()
        assert t.user_attrs["metrics"]["latency_ms"] == pytest.approx(t.values[1])


def test_latency_constraint_stops_candidates_before_training(tmp_path):
    fake = Fake()
    # the smallest network (enqueued first) has latency 1 + 4 * 0.5 = 3
    result = run_search(space(), fake, settings(constraints=["latency<=3.5"], n_trials=8),
                        optuna.storages.InMemoryStorage(), tmp_path)
    trials = result.trials()
    assert trials[0].user_attrs["metrics"]["latency_ms"] == 3.0
    skipped = [t for t in trials if t.user_attrs["status"] == "infeasible"]
    assert skipped and all(t.number not in fake.trained for t in skipped)
    assert all(t.constraints["latency_ms<=3.5"] > 0 for t in skipped)
    assert all(fake_latency_of(t) <= 3.5 for t in trials if t.number in fake.trained)


def fake_latency_of(trial):
    return trial.user_attrs["metrics"]["latency_ms"]


def test_unmeetable_constraint_ends_the_search_naming_it(tmp_path):
    fake = Fake()
    with pytest.raises(InfeasibleSearchError) as err:
        run_search(space(), fake, settings(constraints=["latency<=2", "params<=5000"], n_trials=50,
                                           stop_if_infeasible_after=4),
                   optuna.storages.InMemoryStorage(), tmp_path)
    msg = str(err.value)
    assert "'latency<=2'" in msg and "best latency_ms seen: 3" in msg and "params" not in msg.split(":", 1)[1]
    assert fake.trained == []


def test_pruner_stops_bad_curves_in_a_multi_objective_study(tmp_path):
    def evaluate(arch, ctx):
        ctx.record({"latency_ms": fake_latency(arch)})
        acc = float(ctx.number * 37 % 100)  # 0, 37, 74, 11, 48, 85, 22, ...
        for epoch in range(2):
            ctx.report(epoch, acc + epoch)
        return {"val_top1": acc + 1}

    result = run_search(space(), evaluate, settings(n_trials=8), optuna.storages.InMemoryStorage(), tmp_path,
                        pruner=CurvePruner(50.0, n_startup_trials=2))
    states = {t.number: t.state for t in result.trials()}
    # 11 is below the median of (0, 37, 74); 22 below that of (0, 37, 74, 11, 48, 85)
    assert states[3] == states[6] == optuna.trial.TrialState.PRUNED
    assert states[2] == states[5] == optuna.trial.TrialState.COMPLETE
    assert all(len(t.user_attrs["curve"]) == 1 for t in result.trials()
               if t.state == optuna.trial.TrialState.PRUNED)


def test_the_same_network_is_evaluated_once(tmp_path):
    tiny = make_space("shufflenet", stage_channels=[32], stage_layers=[1], blocks=["shuffle3"], scales=[1.0],
                      resolutions=[16])
    fake = Fake()
    result = run_search(tiny, fake, settings(n_trials=3), optuna.storages.InMemoryStorage(), tmp_path)
    assert len(fake.trained) == 1
    assert [t.user_attrs["metrics"].get("duplicate_of") for t in result.trials()] == [None, 0, 0]


def test_resume_runs_only_the_missing_candidates_and_checks_the_study(tmp_path):
    storage = open_storage(None, tmp_path)
    run_search(space(), Fake(), settings(n_trials=3), storage, tmp_path)
    fake = Fake()
    result = run_search(space(), fake, settings(n_trials=5), open_storage(None, tmp_path), tmp_path)
    assert len(result.trials()) == 5 and len(fake.trained) <= 2 and result.ran == 2
    with pytest.raises(StudyMismatchError, match="objectives"):
        run_search(space(), Fake(), settings(objectives=["accuracy"], n_trials=6), open_storage(None, tmp_path))


def test_unreachable_storage_fails_before_anything_runs(tmp_path):
    with pytest.raises(StorageUnreachableError, match="does not exist"):
        open_storage(f"sqlite:///{tmp_path}/missing/dir/study.db", tmp_path)
    with pytest.raises(StorageUnreachableError, match="postgresql://"):
        open_storage("postgresql://nobody@127.0.0.1:9/none", tmp_path)
    with pytest.raises(StorageUnreachableError, match="journal"):
        open_storage(f"journal://{tmp_path}/missing/study.log", tmp_path)
    journal = open_storage(f"journal://{tmp_path}/study.log", tmp_path)
    assert len(run_search(space(), Fake(), settings(n_trials=2), journal).trials()) == 2


def test_unknown_objective_and_bad_constraint_are_named(tmp_path):
    with pytest.raises(KeyError, match="accuracy, file_size, latency, macs, memory, size"):
        run_search(space(), Fake(), settings(objectives=["acc"]), optuna.storages.InMemoryStorage())
    with pytest.raises(ValueError, match="unknown name 'latncy'"):
        run_search(space(), Fake(), settings(constraints=["latncy<=3"]), optuna.storages.InMemoryStorage())
