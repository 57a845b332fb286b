"""Shared fixtures: one tiny CNN exported once per module, and a private latency cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from measure import ExportedModel, export_model


def tiny_cnn(width: int = 8) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)).eval()


def tiny_input() -> torch.Tensor:
    return torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> ExportedModel:
    return export_model(tiny_cnn(), tiny_input(), tmp_path_factory.mktemp("tiny"), "tiny")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # no test may read or fill the user's cache
    path = tmp_path / "latency-cache"
    monkeypatch.setenv("SLIMLAB_CACHE_DIR", str(path))
    return path
