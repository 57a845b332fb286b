from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from configs.schema import DataConfig


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    # the CI machine has 2 cores shared by many jobs
    torch.set_num_threads(1)


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    """A typed ``DataConfig`` as build_data receives it; dotted keys (``augment.hflip``) allowed."""

    def make(**overrides: Any) -> DictConfig:
        cfg = OmegaConf.structured(DataConfig(image_size=28, channels=1))
        for key, value in overrides.items():
            OmegaConf.update(cfg, key.replace("__", "."), value, merge=False)
        return cfg

    return make
