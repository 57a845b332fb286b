"""Schema of the ``data`` group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import SI


@dataclass
class AugmentConfig:
    # padding of the random crop, in pixels; 0 disables the crop
    random_crop_padding: int = 0
    hflip: bool = False


@dataclass
class DataConfig:
    name: str = "fashion_mnist"
    # directory holding the data set; None searches the data set's default places
    root: str | None = None
    # the model decides the input geometry; transforms resize/convert to it
    image_size: int = SI("${model.input_size}")
    channels: int = SI("${model.in_chans}")
    val_fraction: float = 0.1
    split_seed: int = 0
    batch_size: int = 128
    eval_batch_size: int = 512
    num_workers: int = 0
    # torchvision's download=True, for users who are online; never on the default path
    download: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # cap the number of samples per split (quick runs, tests); None keeps all
    limit_train: int | None = None
    limit_eval: int | None = None
    # data-set-specific options (e.g. synthetic: num_classes, num_samples)
    options: dict[str, Any] = field(default_factory=dict)
