"""scikit-learn's bundled ``load_digits``: 1,797 8x8 grayscale handwritten digits, no download.

It has no official test split, so a fixed one is drawn once (a constant of the
data set, independent of ``data.split_seed``, so test scores stay comparable).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from experiments.data.datasets import TensorImages
from experiments.data.registry import SourceData, check_options, register_dataset

TEST_FRACTION = 0.2
TEST_SEED = 0
# pixel counts 0..16 (4x4 blocks of the 32x32 originals); divided by this to lie in [0, 1]
MAX_PIXEL = 16.0
# mean and std of all pixels of all 1,797 images after scaling to [0, 1] (computed: 0.30526, 0.37605)
MEAN, STD = (0.3053,), (0.3760,)


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


@functools.lru_cache(maxsize=1)
def _decode() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _load_digits()
    images = np.asarray(images, dtype=np.float64)
    if not np.isfinite(images).all():
        raise ValueError(
            f"sklearn digits: {int((~np.isfinite(images)).sum())} non-finite (NaN/inf) pixel values"
        )
    scaled = torch.from_numpy(images / MAX_PIXEL).float().unsqueeze(1)
    return scaled, torch.as_tensor(labels, dtype=torch.long)


# a mirrored 2 or 7 is not a 2 or 7
@register_dataset("digits", hflip_preserves_label=False)
def build_digits(cfg: Any, options: dict[str, Any]) -> SourceData:
    check_options("digits", options, {})
    images, labels = _decode()
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(TEST_SEED))
    n_test = round(len(labels) * TEST_FRACTION)
    test_idx, train_idx = perm[:n_test].sort().values, perm[n_test:].sort().values
    return SourceData(
        train=TensorImages(images[train_idx], labels[train_idx], source="sklearn digits train"),
        test=TensorImages(images[test_idx], labels[test_idx], source="sklearn digits test"),
        class_names=[str(d) for d in range(10)],
        channels=1, image_size=8, mean=MEAN, std=STD,
    )
