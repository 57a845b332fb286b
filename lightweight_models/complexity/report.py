"""The result of profiling a model: totals plus per-layer and per-block tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LayerRow:
    """One leaf module, or the own parameters/ops of a container (type ends in ``(own)``)."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    macs: int
    memory_access_cost: int | None


@dataclass
class BlockRow:
    """The layers under one module at the chosen aggregation depth, summed."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    layers: int
    params: int
    macs: int
    memory_access_cost: int


@dataclass
class ComplexityReport:
    """Complexity figures of one model at one input shape.

    ``params``: parameter values; ``macs``: multiply-accumulates of the matrix
    ops; ``peak_activation_bytes``: see ``complexity.memory``;
    ``memory_access_cost``: values moved by conv/linear layers as defined in
    ``complexity.access_cost``.
    """

    model: str
    input_shape: tuple[int, ...]
    params: int
    macs: int
    peak_activation_bytes: int
    memory_access_cost: int
    layers: list[LayerRow] = field(default_factory=list)
    blocks: list[BlockRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists and numbers only: ``json.dumps`` takes it as is."""
        return _jsonable(asdict(self))

    def totals(self) -> dict[str, Any]:
        d = self.to_dict()
        return {k: v for k, v in d.items() if k not in ("layers", "blocks")}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
