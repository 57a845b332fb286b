"""Hardware-aware architecture search: ``python -m experiments.search [overrides]``.

    python -m experiments.search +experiment=search_smoke                 # minutes, every output
    python -m experiments.search +experiment=search_smoke hydra.run.dir=runs/search_smoke/<time>   # continue it
    python -m experiments.search +experiment=search_fmnist                # >= 50 candidates, Fashion-MNIST
    python -m experiments.search -m nas.strategy=evolution,tpe,random     # a sweep over search settings

This module wires ``nas`` to the rest of the workbench: the data set and the training proxy (``fit`` on a subset,
validation accuracy only, never test), latency measured on the bundled engine (``nas.EngineLatency`` through the
measure stage), the study storage, zoo baselines trained with the same proxy, and the report. Every name and the
storage are checked before the first candidate is trained.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from configs.schema import register_configs
from configs.schema.nas import register_nas_configs
from experiments.data import DataBundle, build_data
from experiments.io import atomic_write_json
from experiments.runs import RunDir
from experiments.training import fit
from experiments.training.batchnorm import reestimate_batchnorm
from lightweight_models import create_model
from measure import TimingProtocol, export_model
from nas import (
    STRATEGIES,
    Arch,
    EngineLatency,
    InfeasibleSearchError,
    SearchSettings,
    SearchSpace,
    TrialContext,
    build_model,
    complexity,
    make_pruner,
    make_space,
    objectives,
    open_storage,
    run_search,
)
from nas.objectives import constraints as parse_constraints
from nas.report.tables import format_summary, write_report

register_configs()
register_nas_configs()

# exit status of a search that ended because no candidate met the constraints
EXIT_INFEASIBLE = 3


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


class ProxyEvaluator:
    """``evaluate(arch, ctx)``: build, count, measure on the engine, then train the proxy and return the best
    validation top-1. Data sets are built once per input resolution."""

    def __init__(self, cfg: DictConfig, space: SearchSpace, latency: EngineLatency, needs_accuracy: bool) -> None:
        self.cfg, self.space, self.latency, self.needs_accuracy = cfg, space, latency, needs_accuracy
        self._data: dict[int, DataBundle] = {}

    def data(self, resolution: int) -> DataBundle:
        if resolution not in self._data:
            data_cfg = OmegaConf.merge(self.cfg.data, {"image_size": resolution})
            self._data[resolution] = build_data(data_cfg)
        return self._data[resolution]

    def train_cfg(self) -> DictConfig:
        proxy = self.cfg.nas.proxy
        overrides: dict[str, Any] = {"epochs": proxy.epochs, "resume": False, "progress": "off"}
        if proxy.max_steps_per_epoch is not None:
            overrides["max_steps_per_epoch"] = proxy.max_steps_per_epoch
        return OmegaConf.merge(self.cfg.train, overrides)

    def train(self, model: torch.nn.Module, data: DataBundle, directory: Path, ctx: TrialContext | None) -> dict:
        recalibrate = int(self.cfg.nas.proxy.bn_recalibration_batches)
        device = str(self.cfg.train.device)

        class Report:
            def on_validation_start(self, epoch: int, model: torch.nn.Module) -> None:
                if recalibrate > 0:
                    reestimate_batchnorm(model, data.train_loader, recalibrate, device)

            def on_epoch_end(self, epoch: int, model: torch.nn.Module, record: dict[str, Any]) -> None:
                if ctx is not None:
                    ctx.report(epoch, float(record["val_top1"]))

        t0 = time.perf_counter()
        state = fit(model, data, self.train_cfg(), RunDir(directory), callbacks=[Report()])
        return {"val_top1": float(state["best_val_top1"]), "train_time_s": time.perf_counter() - t0,
                "epochs": len(state["history"])}

    def __call__(self, arch: Arch, ctx: TrialContext) -> dict[str, Any]:
        assert ctx.directory is not None
        data = self.data(self.space.resolution(arch))
        model = self.space.build(arch, num_classes=data.num_classes, in_chans=data.channels)
        shape = self.space.input_shape(arch, data.channels)
        ctx.record(complexity(model, shape))
        # measured before training: a candidate that breaks a latency or memory constraint is not trained
        ctx.record(self.latency(model, shape, ctx.directory / "files"))
        if not self.needs_accuracy:
            return {}
        return self.train(model, data, ctx.directory, ctx)


def _latency(cfg: DictConfig) -> EngineLatency:
    s = cfg.nas.latency
    protocol = TimingProtocol(warmup=s.warmup, min_runs=s.min_runs, min_time_s=s.min_time_s, rounds=s.rounds)
    return EngineLatency(runner=s.runner, threads=s.threads, batch=s.batch, protocol=protocol,
                         cache=(s.cache_dir or True) if s.cache else False)


def _baseline(spec: str) -> tuple[str, float]:
    name, _, width = spec.partition("@")
    return name, float(width) if width else 1.0


def run_baselines(cfg: DictConfig, evaluator: ProxyEvaluator, run: Path) -> list[dict[str, Any]]:
    """Zoo models trained with the search's proxy and measured the same way (done ones are kept on resume)."""
    path = run / "baselines.json"
    done: dict[str, dict[str, Any]] = {}
    if path.is_file():
        import json

        done = {b["name"]: b for b in json.loads(path.read_text())}
    small = bool(_plain(cfg.nas.space_options).get("small_input", False))
    resolution = int(cfg.data.image_size)
    for spec in cfg.nas.baselines:
        if spec in done:
            continue
        name, width = _baseline(spec)
        data = evaluator.data(resolution)
        model = create_model(name, num_classes=data.num_classes, in_chans=data.channels, width_mult=width,
                             small_input=small)
        shape = (1, data.channels, resolution, resolution)
        directory = run / "baselines" / spec.replace("@", "_w")
        figures: dict[str, Any] = {"name": spec, "model": name, "width_mult": width, "resolution": resolution}
        figures.update(complexity(model, shape))
        figures.update(evaluator.latency(model, shape, directory / "files"))
        figures.update(evaluator.train(model, data, directory, None))
        done[spec] = figures
        atomic_write_json(path, list(done.values()))
        print(f"baseline {spec}: val top-1 {figures['val_top1']:.2f}, {figures['latency_ms']:.3f} ms")
    return [done[s] for s in cfg.nas.baselines if s in done]


def _exporter(evaluator: ProxyEvaluator, run: Path) -> Any:
    def export_front(row: Mapping[str, Any], directory: Path) -> dict[str, Any]:
        arch = Arch.from_dict(row["arch"])
        data = evaluator.data(evaluator.space.resolution(arch))
        model = build_model(arch, num_classes=data.num_classes, in_chans=data.channels)
        ckpt = run / "trials" / f"{int(row['number']):04d}" / "checkpoints" / "best.pt"
        if ckpt.is_file():
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
            model.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
        x = torch.randn(*evaluator.space.input_shape(arch, data.channels), generator=torch.Generator().manual_seed(0))
        files = export_model(model.eval(), x, directory, "model")
        from export.atomic import write_atomically

        write_atomically(directory / "arch.json", arch.to_json().encode())
        return {"onnx": str(files.onnx.relative_to(run)), "slm": str(files.slm.relative_to(run)),
                "trained": ckpt.is_file()}

    return export_front


def search(cfg: DictConfig, run_dir: Path | str) -> dict[str, Any]:
    run = Path(run_dir)
    # one line per candidate is printed below; Optuna's own line repeats every gene
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = cfg.nas
    # every name, option and the storage before any candidate is built or trained
    space = make_space(n.space, **_plain(n.space_options))
    objs = objectives(list(n.objectives))
    cons = parse_constraints(list(n.constraints))
    STRATEGIES.get(n.strategy).sampler(n.seed, len(objs), _plain(n.strategy_options))
    pruner = make_pruner(n.proxy.pruner, n.proxy.pruner_percentile, n.proxy.pruner_startup_trials,
                         n.proxy.pruner_warmup_epochs)
    latency = _latency(cfg)
    latency.check()
    storage = open_storage(n.storage, run, heartbeat_s=n.heartbeat_s, grace_s=n.grace_s, max_retry=n.max_retry)
    RunDir(run).write_config(cfg)

    if n.proxy.limit_train is not None or n.proxy.limit_eval is not None:
        cfg.data.limit_train, cfg.data.limit_eval = n.proxy.limit_train, n.proxy.limit_eval
    needs_accuracy = any(o.metric == "val_top1" for o in objs) or any(c.metric == "val_top1" for c in cons)
    evaluator = ProxyEvaluator(cfg, space, latency, needs_accuracy)
    settings = SearchSettings(objectives=list(n.objectives), constraints=list(n.constraints), strategy=n.strategy,
                              strategy_options=_plain(n.strategy_options), n_trials=n.trials, timeout_s=n.timeout_s,
                              seed=n.seed, study_name=n.study_name, skip_infeasible=n.skip_infeasible,
                              stop_if_infeasible_after=n.stop_if_infeasible_after)
    print(f"search '{n.study_name}' in {run}: space {space.name} ({space.size():.3g} networks), strategy "
          f"{n.strategy}, objectives {', '.join(n.objectives)}, constraints {', '.join(n.constraints) or 'none'}, "
          f"{n.trials} candidates")

    def log(trial: Any) -> None:
        m = trial.user_attrs.get("metrics", {})
        acc = m.get("val_top1")
        print(f"  #{trial.number:<4} {trial.user_attrs.get('status', trial.state.name.lower()):<10} "
              f"latency {m.get('latency_ms', float('nan')):.3f} ms  params {m.get('params')}  "
              f"val top-1 {'-' if acc is None else f'{acc:.2f}'}", flush=True)

    t0 = time.perf_counter()
    failure = None
    try:
        result = run_search(space, evaluator, settings, storage, run, pruner=pruner, on_trial=log)
        study = result.study
    except InfeasibleSearchError as exc:
        failure = exc
        study = optuna.load_study(study_name=n.study_name, storage=storage)
    search_s = time.perf_counter() - t0
    baselines = run_baselines(cfg, evaluator, run) if n.baselines and failure is None else []
    summary = write_report(study, objs, run, baselines=baselines,
                           export_front=_exporter(evaluator, run) if n.export_front and failure is None else None,
                           plots=n.plots)
    summary["search_time_s"] = search_s
    atomic_write_json(run / "search.json", {k: v for k, v in summary.items() if k != "front"})
    print(format_summary(summary))
    print(f"report: {run / 'report.html'}; interactive: pip install optuna-dashboard && "
          f"optuna-dashboard {n.storage or 'sqlite:///' + str((run / 'study.db').resolve())}")
    if failure is not None:
        print(f"search stopped: {failure}", file=sys.stderr)
        sys.exit(EXIT_INFEASIBLE)
    return summary


@hydra.main(version_base="1.3", config_path="../configs", config_name="search")
def main(cfg: DictConfig) -> None:
    search(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
