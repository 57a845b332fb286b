"""Per-sample transforms: channel conversion, resizing, augmentation and normalization.

The model fixes the input geometry (``data.channels``, ``data.image_size``); the
data set states what it stores. The transforms bridge the two, and the
normalization statistics are converted along with the channels so normalized
inputs stay roughly zero-mean and unit-variance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

# ITU-R BT.601 luma weights: the ones torchvision's Grayscale applies
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)


def _replicate_stats(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[tuple, tuple]:
    # three identical copies of the gray channel have the gray channel's statistics
    return mean * 3, std * 3


def _luma_stats(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[tuple, tuple]:
    # the mean of a weighted sum is exact; its std depends on channel covariances we do not
    # store, so assume fully correlated channels (an upper bound, close for natural images,
    # whose RGB channels correlate strongly)
    return (sum(w * m for w, m in zip(LUMA_WEIGHTS, mean)),), (sum(w * s for w, s in zip(LUMA_WEIGHTS, std)),)


# (stored channels, requested channels) -> (pixel transform, statistics conversion)
_CHANNEL_CONVERSIONS: dict[tuple[int, int], tuple[Callable[[], v2.Transform], Callable]] = {
    (1, 3): (lambda: v2.Grayscale(num_output_channels=3), _replicate_stats),
    (3, 1): (lambda: v2.Grayscale(num_output_channels=1), _luma_stats),
}


def _channel_conversion(stored: int, requested: int) -> tuple[v2.Transform | None, Callable | None]:
    if stored == requested:
        return None, None
    try:
        make, stats = _CHANNEL_CONVERSIONS[(stored, requested)]
    except KeyError:
        valid = ", ".join(f"{a}->{b}" for a, b in _CHANNEL_CONVERSIONS)
        raise ValueError(
            f"cannot convert {stored}-channel images to data.channels={requested}; supported: {valid}"
        ) from None
    return make(), stats


def normalization_stats(
    mean: tuple[float, ...], std: tuple[float, ...], stored: int, requested: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The data set's statistics after converting its ``stored`` channels to ``requested``."""
    _, convert = _channel_conversion(stored, requested)
    if convert is None:
        return tuple(mean), tuple(std)
    new_mean, new_std = convert(tuple(mean), tuple(std))
    return tuple(float(m) for m in new_mean), tuple(float(s) for s in new_std)


def _geometry(stored_size: int | None, size: int) -> list[v2.Transform]:
    if stored_size is None:
        # images of varying shape: keep the aspect ratio, then take the centre (ImageNet practice)
        return [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    if stored_size != size:
        return [v2.Resize((size, size), antialias=True)]
    return []


def build_transform(
    *,
    stored_channels: int,
    stored_size: int | None,
    channels: int,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    crop_padding: int = 0,
    hflip: bool = False,
) -> v2.Compose:
    """Sample -> float tensor ``[channels, size, size]`` normalized with ``mean``/``std``
    (already converted to ``channels``); ``crop_padding``/``hflip`` add train-time augmentation."""
    if crop_padding < 0:
        raise ValueError(f"data.augment.random_crop_padding must be >= 0, got {crop_padding}")
    convert, _ = _channel_conversion(stored_channels, channels)
    steps: list[v2.Transform] = [v2.ToImage()]
    if convert is not None:
        steps.append(convert)
    steps += _geometry(stored_size, size)
    if crop_padding:
        steps.append(v2.RandomCrop(size, padding=crop_padding))
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    steps += [
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(mean), list(std)),
        # plain tensors: tv_tensor subclasses would leak into the model and the exporter
        v2.ToPureTensor(),
    ]
    return v2.Compose(steps)
