"""Pipeline steps of ``python -m experiments.run``: train -> compress -> export -> measure -> report.

A step is a function ``step(cfg, ctx)`` registered under a name; the experiment
config lists the steps to run (``pipeline: [train, ...]``). Steps talk only
through the context (what earlier steps produced) and the run directory, so a
new step is appended by registering it, without touching the others.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from configs.registry import Registry
from experiments.runs import RunDir


@dataclass
class PipelineContext:
    run: RunDir
    # what each step produced, by step name (the model, data bundle, metrics ...)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.run.path


Step = Callable[[DictConfig, PipelineContext], dict[str, Any]]
STEPS: Registry[Step] = Registry("pipeline step")


def import_steps() -> None:
    """Import every module of ``experiments.steps`` so their steps are registered."""
    import experiments.steps as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def run_pipeline(cfg: DictConfig, run_dir: Path) -> PipelineContext:
    import_steps()
    # validate every name before any work
    steps = [(name, STEPS.get(name)) for name in cfg.pipeline]
    ctx = PipelineContext(run=RunDir(run_dir))
    for name, step in steps:
        ctx.results[name] = step(cfg, ctx)
    return ctx
