"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 32x32 RGB, 50,000 train / 10,000 test.

Read with torchvision's loaders from a local root (the python-pickle version,
``cifar-10-batches-py`` / ``cifar-100-python``); downloaded only when ``data.download``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torchvision import datasets as tv_datasets

from experiments.data.datasets import TensorImages
from experiments.data.registry import SourceData, check_options, register_dataset

# per-channel mean and std over all pixels of the 50,000 training images, in [0, 1] units (the
# standard published values; the also-common CIFAR-10 std 0.2023/0.1994/0.2010 is not the pixel std)
_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_LOADERS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100"}


def _root(cfg: Any) -> Path:
    return Path(cfg.root) if cfg.root else Path.cwd() / "data"


@functools.lru_cache(maxsize=4)
def _decode(name: str, root: str, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor, list]:
    loader = getattr(tv_datasets, _LOADERS[name])
    try:
        ds = loader(root, train=train, download=download)
    except RuntimeError as err:
        folder = Path(root) / loader.base_folder
        raise FileNotFoundError(
            f"{name} not found or corrupt under {root} (expected {folder}): {err}. Set data.root to the "
            f"directory holding {loader.base_folder}, or data.download=true when online."
        ) from None
    # torchvision keeps the decoded pixels as one HWC uint8 array: reuse it instead of PIL per sample
    images = torch.as_tensor(ds.data).permute(0, 3, 1, 2).contiguous()
    return images, torch.as_tensor(ds.targets, dtype=torch.long), list(ds.classes)


def _build(name: str, cfg: Any, options: dict[str, Any]) -> SourceData:
    check_options(name, options, {})
    root = _root(cfg)
    if not root.is_dir() and not cfg.download:
        raise FileNotFoundError(
            f"{name}: data.root {root} does not exist; set data.root to the directory holding the "
            f"python version of {name}, or data.download=true when online"
        )
    splits = {}
    for split, train in (("train", True), ("test", False)):
        images, labels, classes = _decode(name, str(root), train, bool(cfg.download))
        splits[split] = TensorImages(images, labels, source=f"{name} {split} in {root}")
    mean, std = _STATS[name]
    return SourceData(
        train=splits["train"], test=splits["test"], class_names=classes,
        channels=3, image_size=32, mean=mean, std=std,
    )


# natural photographs: a mirrored cat is still a cat
@register_dataset("cifar10", hflip_preserves_label=True)
def build_cifar10(cfg: Any, options: dict[str, Any]) -> SourceData:
    return _build("cifar10", cfg, options)


@register_dataset("cifar100", hflip_preserves_label=True)
def build_cifar100(cfg: Any, options: dict[str, Any]) -> SourceData:
    return _build("cifar100", cfg, options)
