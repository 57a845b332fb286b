from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from configs.schema import TrainConfig


@dataclass
class TinyBundle:
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader
    num_classes: int = 4


def make_bundle(n: int = 256, seed: int = 0) -> TinyBundle:
    """Four linearly separable Gaussian blobs as 1x8x8 images."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    centers = torch.randn(4, 1, 8, 8, generator=g) * 2.0
    x = centers[y] + 0.5 * torch.randn(n, 1, 8, 8, generator=g)
    ds = TensorDataset(x, y)
    split = int(0.8 * n)
    train = TensorDataset(x[:split], y[:split])
    val = TensorDataset(x[split:], y[split:])
    return TinyBundle(
        train_loader=DataLoader(train, batch_size=32, shuffle=True),
        val_loader=DataLoader(val, batch_size=64),
        test_loader=DataLoader(ds, batch_size=64),
    )


def train_cfg(**overrides) -> TrainConfig:
    base = OmegaConf.structured(TrainConfig)
    base.merge_with(OmegaConf.create(overrides))
    base.progress = "off"
    return base


@pytest.fixture
def bundle() -> TinyBundle:
    return make_bundle()


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(32, 4),
    )
