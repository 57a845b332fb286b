"""What a pipeline step is: ``step(cfg, ctx) -> dict`` registered by name, talking to later steps only through
the context (what earlier steps produced) and the run directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from torch import nn

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

    def latest(self, key: str) -> Any:
        """The value ``key`` of the most recent step that produced one (e.g. the model to export: the trained
        one after ``train``, the compressed one after ``compress``)."""
        for result in reversed(list(self.results.values())):
            if result.get(key) is not None:
                return result[key]
        raise KeyError(f"no earlier pipeline step produced '{key}' (steps so far: {', '.join(self.results) or 'none'})")

    def model(self) -> nn.Module:
        return self.latest("model")


Step = Callable[[DictConfig, PipelineContext], dict[str, Any]]
# ``@STEPS.register(name, check=fn)``: ``fn(cfg)`` validates the step's settings before any step of the run starts
STEPS: Registry[Step] = Registry("pipeline step")
