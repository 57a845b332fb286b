"""``python -m experiments.run``: train -> compress -> export -> measure -> report, as configured.

The experiment config lists the steps to run (``pipeline: [train, export, measure]``); each is a registered
step of ``experiments.steps``. After the last step the run's summary.md is written once, from the merged
metrics.json, by the one summary writer every run kind shares.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from experiments.runs import RunDir
from experiments.steps import STEPS, PipelineContext
from experiments.summary import print_summary, write_summary

__all__ = ["STEPS", "PipelineContext", "run_pipeline"]


def run_pipeline(cfg: DictConfig, run_dir: Path | str) -> PipelineContext:
    # every step name, and each step's own settings check, before any step does work
    steps = [(name, STEPS.get(name)) for name in cfg.pipeline]
    for name, _ in steps:
        check = STEPS.meta(name).get("check")
        if check is not None:
            check(cfg)
    ctx = PipelineContext(run=RunDir(run_dir))
    for name, step in steps:
        ctx.results[name] = step(cfg, ctx)
    if write_summary(ctx.run):
        print_summary(ctx.run.read_metrics(), ctx.path)
    return ctx
