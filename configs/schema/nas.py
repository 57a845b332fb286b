"""Schema of the ``nas`` group and of the ``python -m experiments.search`` experiment config.

Names (space, strategy, objectives, constraint left sides) are checked by the ``nas`` registries before any
work, which list the valid ones; space and strategy options are free-form here and checked by the space or
strategy they belong to, so adding a space or a strategy needs no schema change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from configs.schema.data import DataConfig
from configs.schema.train import TrainConfig


@dataclass
class NasLatencyConfig:
    # a measure runner (slimlab reads the engine file); every candidate is measured, none estimated
    runner: str = "slimlab"
    threads: int = 1
    batch: int = 1
    # the timing protocol per candidate (measure.timing): one fresh session, warm-up, timed runs until both floors
    warmup: int = 3
    min_runs: int = 20
    min_time_s: float = 0.05
    rounds: int = 1
    # the measure stage's cache, keyed by the engine file's hash (the same network is measured once per machine)
    cache: bool = True
    # null: $SLIMLAB_CACHE_DIR or ~/.cache/slimlab/latency
    cache_dir: str | None = None


@dataclass
class NasProxyConfig:
    """The training proxy: a short schedule (the ``train`` group, with these epochs) on a data subset."""

    epochs: int = 1
    limit_train: int | None = 4096
    limit_eval: int | None = 1024
    max_steps_per_epoch: int | None = None
    # early stopping on validation curves: median | percentile | none
    pruner: str = "median"
    # percentile: stop a candidate below this percentile of the others at the same epoch (50 = median)
    pruner_percentile: float = 50.0
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 0
    # before each validation, BN's running statistics are recomputed from this many training batches under the
    # current weights (OFA's subnet recalibration): after a few dozen steps the running averages still describe
    # the early weights and validation reads near chance. 0 keeps the trained statistics
    bn_recalibration_batches: int = 8


@dataclass
class NasConfig:
    # a registered space (nas.spaces): mbconv | shufflenet | mobilevit | uib
    space: str = "mbconv"
    space_options: dict[str, Any] = field(default_factory=dict)
    # random | evolution | tpe | nsga2 | gp
    strategy: str = "evolution"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    # any of accuracy, latency, memory, size, macs, file_size
    objectives: list[str] = field(default_factory=lambda: ["accuracy", "latency"])
    # "<objective or metric> <= <bound>" or ">=", e.g. latency<=1.5, params<=5e5
    constraints: list[str] = field(default_factory=list)
    # finished candidates (complete or pruned); a resumed search runs only the missing ones
    trials: int = 20
    timeout_s: float | None = None
    seed: int = 0
    # null: sqlite:///<run dir>/study.db; postgresql://..., mysql://... or journal:///shared/fs/study.log
    storage: str | None = None
    study_name: str = "search"
    # Optuna heartbeat: a trial silent for grace_s (its process died) is failed and re-enqueued up to max_retry
    heartbeat_s: int = 30
    grace_s: int = 60
    max_retry: int = 2
    # do not train a candidate whose measured latency / size / MACs already break a constraint
    skip_infeasible: bool = True
    # end the search when this many candidates finished and none met the constraints (0: run the whole budget)
    stop_if_infeasible_after: int = 10
    latency: NasLatencyConfig = field(default_factory=NasLatencyConfig)
    proxy: NasProxyConfig = field(default_factory=NasProxyConfig)
    # zoo models trained with the same proxy and measured the same way, plotted on the same axes;
    # "<name>" or "<name>@<width_mult>", e.g. mobilenetv3_small@0.5
    baselines: list[str] = field(default_factory=list)
    # export the front's trained networks to ONNX and engine files (front/<trial>/)
    export_front: bool = True
    plots: bool = True


@dataclass
class SearchExperimentConfig:
    name: str = "search"
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    nas: NasConfig = field(default_factory=NasConfig)
    notes: str = ""


def register_nas_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(group="nas", name="base_nas", node=NasConfig)
    cs.store(name="base_search_experiment", node=SearchExperimentConfig)
