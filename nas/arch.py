"""A sampled architecture as plain data: which space it belongs to, that space's options and one value per
searched choice ("gene").

An ``Arch`` is hashable (two samplers that land on the same network agree on its identity, so the search
measures and trains it once) and round-trips through JSON (``trials/<n>/arch.json`` rebuilds the trained
network without the study). The JSON carries a format version so that a file written by a newer slimlab is
refused by name instead of building the wrong network.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARCH_FORMAT = 1

Gene = bool | int | float | str


class ArchError(ValueError):
    """An arch that does not belong to the space, is of an unknown format, or has an invalid field.

    ``field`` names the offending gene or key (``None`` when the whole document is wrong)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((str(k), _freeze(v)) for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return ("__seq__", *(_freeze(v) for v in value))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        if value and value[0] == "__seq__":
            return [_thaw(v) for v in value[1:]]
        return {k: _thaw(v) for k, v in value}
    return value


@dataclass(frozen=True)
class Arch:
    """One candidate network: ``space`` name, the space's ``options`` and the active ``genes``.

    Build it with ``nas.build_model(arch, num_classes=..., in_chans=...)`` or ``SPACE.build(arch, ...)``.
    """

    space: str
    genes: tuple[tuple[str, Gene], ...]
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def create(cls, space: str, genes: Mapping[str, Gene], options: Mapping[str, Any] | None = None) -> Arch:
        return cls(space, tuple(sorted(genes.items())), _freeze(dict(options or {})))

    @property
    def gene_dict(self) -> dict[str, Gene]:
        return dict(self.genes)

    @property
    def option_dict(self) -> dict[str, Any]:
        return _thaw(self.options) if self.options else {}

    def __getitem__(self, key: str) -> Gene:
        for k, v in self.genes:
            if k == key:
                return v
        raise KeyError(key)

    def get(self, key: str, default: Gene | None = None) -> Gene | None:
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, Any]:
        return {"format": ARCH_FORMAT, "space": self.space, "options": self.option_dict, "genes": self.gene_dict}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1) + "\n"

    @property
    def digest(self) -> str:
        """Short content hash: the same network in the same space gives the same digest in any process."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arch:
        if not isinstance(data, Mapping):
            raise ArchError(f"an arch is a JSON object, got {type(data).__name__}")
        fmt = data.get("format")
        if not isinstance(fmt, int):
            raise ArchError(f"arch has no integer 'format' field (got {fmt!r})", "format")
        if fmt > ARCH_FORMAT:
            raise ArchError(f"arch format version {fmt} is newer than this slimlab's ({ARCH_FORMAT}); "
                            f"upgrade slimlab to read it", "format")
        for key in ("space", "genes"):
            if key not in data:
                raise ArchError(f"arch has no '{key}' field", key)
        genes = data["genes"]
        if not isinstance(genes, Mapping):
            raise ArchError("arch 'genes' must be an object of name -> value", "genes")
        return cls.create(str(data["space"]), genes, data.get("options") or {})

    @classmethod
    def from_json(cls, text: str) -> Arch:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Arch:
        return cls.from_json(Path(path).read_text())
