"""Schema of the top-level experiment config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from configs.schema.data import DataConfig
from configs.schema.measure import ExportConfig, MeasureConfig
from configs.schema.model import ModelConfig
from configs.schema.tracking import TrackingConfig
from configs.schema.train import TrainConfig


@dataclass
class ExperimentConfig:
    name: str = "default"
    # steps of `python -m experiments.run`, in order; each is a registered pipeline step
    pipeline: list[str] = field(default_factory=lambda: ["train"])
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    # settings of the `export` and `measure` pipeline steps
    export: ExportConfig = field(default_factory=ExportConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    # free-form notes copied into the run's summary
    notes: str = ""
    # settings of later pipeline steps that have no schema yet
    extra: dict[str, Any] = field(default_factory=dict)
