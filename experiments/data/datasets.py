"""Dataset containers: decoded images held in memory, and a split view that applies a transform."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset


class TensorImages(Dataset):
    """Images ``[N, C, H, W]`` (uint8, or float in [0, 1]) and labels ``[N]`` held as tensors.

    Decoding once and indexing tensors per sample keeps an epoch free of file I/O;
    the checks run here so every in-memory data set gets them, whatever its source.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, source: str) -> None:
        if images.ndim != 4:
            raise ValueError(f"{source}: images must be [N, C, H, W], got shape {tuple(images.shape)}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"{source}: {len(images)} images but labels of shape {tuple(labels.shape)}"
            )
        if images.is_floating_point():
            bad = int((~torch.isfinite(images)).sum())
            if bad:
                raise ValueError(f"{source}: {bad} non-finite (NaN/inf) pixel values")
            lo, hi = float(images.min()), float(images.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(f"{source}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}]")
        elif images.dtype != torch.uint8:
            raise ValueError(f"{source}: images must be uint8 or float, got {images.dtype}")
        self.images, self.targets, self.source = images, labels.long(), source

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.targets[index])


def dataset_targets(dataset: Any) -> torch.Tensor:
    """Labels of a source dataset without decoding its images (every source exposes ``targets``)."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        raise TypeError(f"{type(dataset).__name__} exposes no `targets`; data set builders must provide them")
    return torch.as_tensor(targets, dtype=torch.long)


class TransformedSubset(Dataset):
    """The samples ``indices`` of ``base``, each passed through ``transform``.

    Train and val views share one decoded base but get different transforms
    (augmentation only on train), which ``torch.utils.data.Subset`` cannot express.
    """

    def __init__(self, base: Dataset, indices: Sequence[int] | torch.Tensor, transform: Callable) -> None:
        self.base = base
        self.indices = torch.as_tensor(indices, dtype=torch.long)
        self.transform = transform

    @property
    def targets(self) -> torch.Tensor:
        return dataset_targets(self.base)[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.base[int(self.indices[index])]
        return self.transform(image), label
