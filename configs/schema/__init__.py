"""Structured configs: one dataclass per config group, registered in Hydra's
ConfigStore as ``base_<group>`` so that every YAML file of the group extends it
and a misspelled key or a wrong type fails before any work starts."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from configs.schema.data import AugmentConfig, DataConfig
from configs.schema.experiment import ExperimentConfig
from configs.schema.model import ModelConfig
from configs.schema.tracking import TrackingConfig, TrackingMode
from configs.schema.train import EMAConfig, OptimizerConfig, ScheduleConfig, TrainConfig

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "EMAConfig",
    "ExperimentConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrackingConfig",
    "TrackingMode",
    "TrainConfig",
    "register_configs",
]

_GROUPS = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "tracking": TrackingConfig,
}


def register_configs() -> None:
    """Register every schema with Hydra; idempotent, called by each entry point."""
    from configs.schema.compress import register_compress_configs

    cs = ConfigStore.instance()
    for group, node in _GROUPS.items():
        cs.store(group=group, name=f"base_{group}", node=node)
    cs.store(name="base_experiment", node=ExperimentConfig)
    register_compress_configs()
