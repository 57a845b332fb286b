"""The runner registry; each runner module registers its class here."""

from __future__ import annotations

from configs.registry import Registry
from measure.runners.base import Runner

RUNNERS: Registry[type[Runner]] = Registry("runner")


def register_runner(cls: type[Runner]) -> type[Runner]:
    """Class decorator: registers ``cls`` under its ``name``."""
    return RUNNERS.register(cls.name)(cls)
