"""Synthetic images with learnable class structure, for tests and benchmarks (no files needed).

Each class has a smooth random mean pattern; a sample is its class pattern plus
Gaussian pixel noise, clipped to [0, 1]. Samples are generated on access from a
seed derived from (options.seed, split, index): every run sees identical data
without holding it in memory, so benchmark-sized sets cost nothing to build.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from experiments.data.registry import SourceData, check_options, register_dataset

DEFAULTS: dict[str, Any] = {
    "num_classes": 10,
    # training samples; the test split has num_test (default num_samples // 5)
    "num_samples": 1000,
    "num_test": None,
    # std of the pixel noise, in [0, 1] pixel units
    "noise": 0.3,
    "seed": 0,
    # side of the random grid upsampled into each class pattern: small = smooth patterns
    "pattern_cells": 4,
}
_SPLIT_IDS = {"train": 0, "test": 1}
# images used to estimate the normalization statistics (exact values are not needed)
_STATS_SAMPLES = 512


def class_patterns(num_classes: int, channels: int, size: int, cells: int, seed: int) -> torch.Tensor:
    """``[num_classes, channels, size, size]`` smooth patterns in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_classes, channels, cells, cells, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def _mix(*key: int) -> int:
    # torch's CPU generator keeps only 32 bits of a seed, so (seed, split, index) is hashed into
    # 32 bits instead of packed into a wider integer (which made splits collide)
    return int(np.random.SeedSequence(key).generate_state(1)[0])


class SyntheticImages(Dataset):
    def __init__(self, patterns: torch.Tensor, num_samples: int, noise: float, seed: int, split: str) -> None:
        self.patterns, self.noise = patterns, noise
        self._key = (seed, _SPLIT_IDS[split])
        g = torch.Generator().manual_seed(_mix(*self._key))
        # balanced classes in a seeded order
        labels = torch.arange(num_samples) % len(patterns)
        self.targets = labels[torch.randperm(num_samples, generator=g)]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} synthetic samples")
        label = int(self.targets[index])
        g = torch.Generator().manual_seed(_mix(*self._key, index + 1))
        pattern = self.patterns[label]
        noise = torch.randn(pattern.shape, generator=g) * self.noise
        return (pattern + noise).clamp_(0.0, 1.0), label


def _count(options: dict[str, Any], key: str, minimum: int = 1) -> int:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"synthetic: data.options.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _stats(dataset: SyntheticImages) -> tuple[tuple[float, ...], tuple[float, ...]]:
    images = torch.stack([dataset[i][0] for i in range(min(len(dataset), _STATS_SAMPLES))])
    mean = images.mean(dim=(0, 2, 3))
    # a constant channel has std 0; 1 keeps normalization a plain shift there
    std = images.std(dim=(0, 2, 3))
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return tuple(mean.tolist()), tuple(std.tolist())


# patterns are not mirror-symmetric: a flipped sample looks like another class
@register_dataset("synthetic", hflip_preserves_label=False)
def build_synthetic(cfg: Any, options: dict[str, Any]) -> SourceData:
    opts = check_options("synthetic", options, DEFAULTS)
    num_classes = _count(opts, "num_classes", minimum=2)
    num_samples = _count(opts, "num_samples")
    num_test = max(1, num_samples // 5) if opts["num_test"] is None else _count(opts, "num_test")
    noise = float(opts["noise"])
    if not noise >= 0:
        raise ValueError(f"synthetic: data.options.noise must be >= 0, got {opts['noise']!r}")
    seed = _count(opts, "seed", minimum=0)
    # generated at the model's geometry, so no conversion or resize is needed later
    channels, size = int(cfg.channels), int(cfg.image_size)
    patterns = class_patterns(num_classes, channels, size, _count(opts, "pattern_cells"), seed)
    train = SyntheticImages(patterns, num_samples, noise, seed, "train")
    test = SyntheticImages(patterns, num_test, noise, seed, "test")
    mean, std = _stats(train)
    return SourceData(
        train=train, test=test, class_names=[f"class_{k}" for k in range(num_classes)],
        channels=channels, image_size=size, mean=mean, std=std,
    )
