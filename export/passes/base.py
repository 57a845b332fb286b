"""What every optimization pass is: a registered ``run(graph) -> PassResult``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from configs.registry import Registry
from export.ir import Graph


@dataclass
class PassResult:
    """What one pass changed, as named counts (e.g. {"folded": 3})."""

    name: str
    changes: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return any(v for v in self.changes.values())

    def merge(self, other: PassResult) -> None:
        self.changes.update(other.changes)

    def summary(self) -> str:
        parts = [f"{k} {v}" for k, v in sorted(self.changes.items()) if v]
        return f"{self.name}: " + (", ".join(parts) if parts else "no change")


GraphPass = Callable[[Graph], PassResult]

PASSES: Registry[GraphPass] = Registry("pass")


def register_pass(name: str) -> Callable[[GraphPass], GraphPass]:
    return PASSES.register(name)
