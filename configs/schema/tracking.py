"""Schema of the ``tracking`` group."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class TrackingMode(str, Enum):
    disabled = "disabled"
    offline = "offline"
    online = "online"


@dataclass
class TrackingConfig:
    # offline by default: no account or network needed; `wandb sync` uploads later
    mode: TrackingMode = TrackingMode.offline
    project: str = "slimlab"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
