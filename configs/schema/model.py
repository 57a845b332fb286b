"""Schema of the ``model`` group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelConfig:
    # a registered name, or timm/<name>, or tv/<name>
    name: str = "simple_cnn"
    # None: taken from the data set at build time
    num_classes: int | None = None
    in_chans: int = 1
    input_size: int = 28
    width_mult: float = 1.0
    # reduced stem/first-stage strides for 28-32 px inputs
    small_input: bool = True
    drop_rate: float = 0.0
    # local weights file (timm pretrained from disk); never downloaded
    pretrained_path: str | None = None
    # family-specific arguments passed through to the constructor
    kwargs: dict[str, Any] = field(default_factory=dict)
