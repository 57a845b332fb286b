"""The registry of search spaces (filled by the explicit import list of ``nas/spaces/__init__.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from configs.registry import Registry

SPACES: Registry[type] = Registry("search space")


def register_space(name: str, **meta: Any) -> Callable[[type], type]:
    return SPACES.register(name, **meta)
