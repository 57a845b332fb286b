"""``build_data``: a ``DataConfig`` in, splits, loaders and their metadata out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from experiments.data.datasets import TransformedSubset
from experiments.data.registry import DATASETS, import_datasets
from experiments.data.splits import cap, carve_val
from experiments.data.transforms import build_transform, normalization_stats


@dataclass
class DataBundle:
    """Everything the trainer and the measurement steps need from a data set.

    ``train``/``val``/``test`` yield ``(float tensor [channels, image_size, image_size], int label)``.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader
    num_classes: int
    class_names: list[str]
    channels: int
    image_size: int
    # the per-channel normalization the transforms apply (the exporter/engine need it too)
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _int_at_least(cfg: Any, key: str, minimum: int = 1) -> int:
    value = getattr(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"data.{key} must be an integer >= {minimum}, got {value!r}"
            + (" (an unresolved interpolation?)" if isinstance(value, str) else "")
        )
    return value


def _options(cfg: Any) -> dict[str, Any]:
    options = cfg.options
    if isinstance(options, DictConfig):
        return OmegaConf.to_container(options, resolve=True)  # type: ignore[return-value]
    if not isinstance(options, Mapping):
        raise ValueError(f"data.options must be a mapping, got {options!r}")
    return dict(options)


def _check_hflip(name: str, hflip: bool) -> None:
    if hflip and not DATASETS.meta(name)["hflip_preserves_label"]:
        raise ValueError(
            f"data.augment.hflip=true is invalid for data set '{name}': a horizontal flip changes "
            f"what its images mean; set data.augment.hflip=false"
        )


def _loader(dataset: Dataset, batch_size: int, shuffle: bool, num_workers: int) -> DataLoader:
    # shuffle=True without a generator draws from the global torch RNG, which the trainer
    # reseeds at every epoch start, so a resumed run sees the same order; workers are not
    # persistent for the same reason (their seeds are drawn from that RNG once per epoch)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, drop_last=False, num_workers=num_workers
    )


def build_data(cfg: Any) -> DataBundle:
    """Build the data set ``cfg.name`` as train/val/test datasets and loaders.

    Val is carved from the official train split with ``cfg.split_seed``; test is
    the official test split. Unknown names raise ``UnknownNameError`` listing valid ones.
    """
    import_datasets()
    builder = DATASETS.get(cfg.name)
    size = _int_at_least(cfg, "image_size")
    channels = _int_at_least(cfg, "channels")
    batch_size = _int_at_least(cfg, "batch_size")
    eval_batch_size = _int_at_least(cfg, "eval_batch_size")
    num_workers = _int_at_least(cfg, "num_workers", minimum=0)
    _check_hflip(cfg.name, bool(cfg.augment.hflip))
    options = _options(cfg)

    source = builder(cfg, options)
    mean, std = normalization_stats(source.mean, source.std, source.channels, channels)
    common = dict(
        stored_channels=source.channels, stored_size=source.image_size, channels=channels, size=size,
        mean=mean, std=std,
    )
    train_tf = build_transform(
        **common, crop_padding=int(cfg.augment.random_crop_padding), hflip=bool(cfg.augment.hflip)
    )
    eval_tf = build_transform(**common)

    train_idx, val_idx = carve_val(len(source.train), float(cfg.val_fraction), int(cfg.split_seed))
    seed = int(cfg.split_seed)
    train_idx = cap(train_idx, cfg.limit_train, seed)
    val_idx = cap(val_idx, cfg.limit_eval, seed)
    test_idx = cap(torch.arange(len(source.test)), cfg.limit_eval, seed)

    train = TransformedSubset(source.train, train_idx, train_tf)
    val = TransformedSubset(source.train, val_idx, eval_tf)
    test = TransformedSubset(source.test, test_idx, eval_tf)
    return DataBundle(
        name=cfg.name,
        train=train,
        val=val,
        test=test,
        train_loader=_loader(train, batch_size, True, num_workers),
        val_loader=_loader(val, eval_batch_size, False, num_workers),
        test_loader=_loader(test, eval_batch_size, False, num_workers),
        num_classes=len(source.class_names),
        class_names=list(source.class_names),
        channels=channels,
        image_size=size,
        mean=mean,
        std=std,
    )
