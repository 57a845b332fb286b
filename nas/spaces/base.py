"""What a search space is: named categorical choices ("genes"), some active only under others (a block's
kernel exists only when its stage is deep enough), and a ``build`` that turns an ``Arch`` into an ordinary
``ZooModel`` of ``lightweight_models`` blocks.

Every choice is categorical and listed cheapest first, so that one encoding serves every strategy: Optuna's
samplers see ``suggest_categorical`` dimensions, evolution mutates genes, a future supernet indexes its
weights by the same names, and ``smallest()`` is the candidate a monotone constraint (latency, size, MACs)
is most likely to admit. A joint space with per-layer bit-widths or pruning ratios is one more subclass whose
extra genes name the layer they belong to.
"""

from __future__ import annotations

import abc
import difflib
import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from lightweight_models.base import ZooModel
from nas.arch import ARCH_FORMAT, Arch, ArchError, Gene

Choices = tuple[Gene, ...]


class SearchSpace(abc.ABC):
    name: ClassVar[str]
    # every option and its default; the YAML's nas.space_options may set any of them
    defaults: ClassVar[dict[str, Any]]

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            close = {u: difflib.get_close_matches(u, list(self.defaults), n=1) for u in unknown}
            hints = ", ".join(f"'{u}'" + (f" (did you mean '{c[0]}'?)" if c else "") for u, c in close.items())
            raise ValueError(f"space '{self.name}' has no option {hints}; its options are "
                             f"{', '.join(sorted(self.defaults))}")
        merged = {**self.defaults, **options}
        # lists from YAML become tuples, so options compare and hash the same however they were given
        self.options: dict[str, Any] = {k: _tuples(v) for k, v in merged.items()}
        self._dims = self._dimensions()
        for gene, choices in self._dims.items():
            if not choices:
                raise ValueError(f"space '{self.name}': gene '{gene}' has no choices")

    # --- what subclasses define ---------------------------------------------------------------
    @abc.abstractmethod
    def _dimensions(self) -> dict[str, Choices]:
        """Every gene (active or not in a given arch) and its choices, cheapest first, in a fixed order."""

    def is_active(self, gene: str, genes: Mapping[str, Gene]) -> bool:
        """Whether ``gene`` shapes the network given the other genes (e.g. a block beyond its stage's depth)."""
        return True

    @abc.abstractmethod
    def build(self, arch: Arch, num_classes: int = 10, in_chans: int = 3) -> ZooModel:
        """The network of ``arch`` (validated first), with fresh weights."""

    @abc.abstractmethod
    def size(self) -> int:
        """Number of distinct networks (inactive genes do not count)."""

    def resolution(self, arch: Arch) -> int:
        return int(arch["resolution"])

    # --- shared -------------------------------------------------------------------------------
    def dimensions(self) -> dict[str, Choices]:
        return dict(self._dims)

    def arch(self, genes: Mapping[str, Gene]) -> Arch:
        """The canonical arch of a full or partial gene assignment: inactive genes dropped, then validated."""
        full = {g: genes[g] for g in self._dims if g in genes}
        active = {g: v for g, v in full.items() if self.is_active(g, full)}
        return self.validate(Arch.create(self.name, active, self.options))

    def suggest(self, trial: Any) -> Arch:
        """Ask an Optuna trial for every gene. Inactive genes are suggested too so that every trial has the
        same search space (TPE's multivariate mode and NSGA-II need it); the arch drops them."""
        params = {g: trial.suggest_categorical(g, list(c)) for g, c in self._dims.items()}
        return self.arch(params)

    def sample(self, rng: random.Random) -> Arch:
        return self.arch({g: rng.choice(c) for g, c in self._dims.items()})

    def params(self, arch: Arch) -> dict[str, Gene]:
        """Every gene of ``arch`` with inactive ones set to their first choice (what ``enqueue_trial`` takes)."""
        genes = arch.gene_dict
        return {g: genes.get(g, c[0]) for g, c in self._dims.items()}

    def smallest(self) -> Arch:
        return self.arch({g: c[0] for g, c in self._dims.items()})

    def largest(self) -> Arch:
        return self.arch({g: c[-1] for g, c in self._dims.items()})

    def validate(self, arch: Arch) -> Arch:
        """``arch`` if it is a network of this space; ``ArchError`` naming the offending field otherwise."""
        if arch.space != self.name:
            raise ArchError(f"arch is from search space '{arch.space}', not '{self.name}'", "space")
        theirs = {k: _tuples(v) for k, v in arch.option_dict.items()}
        for key, value in theirs.items():
            if key not in self.options:
                raise ArchError(f"arch option '{key}' is not an option of space '{self.name}'", f"options.{key}")
            if value != self.options[key]:
                raise ArchError(f"arch option '{key}' is {value!r}, this space has {self.options[key]!r}",
                                f"options.{key}")
        genes = arch.gene_dict
        for gene, value in genes.items():
            if gene not in self._dims:
                close = difflib.get_close_matches(gene, list(self._dims), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ArchError(f"gene '{gene}' is not a gene of space '{self.name}'{hint}", gene)
            choices = self._dims[gene]
            if not any(value == c and type(value) is type(c) for c in choices):
                raise ArchError(f"gene '{gene}' = {value!r} is not one of its choices {list(choices)}", gene)
        for gene in self._dims:
            active = self.is_active(gene, genes)
            if active and gene not in genes:
                raise ArchError(f"gene '{gene}' is missing", gene)
            if not active and gene in genes:
                raise ArchError(f"gene '{gene}' is set but inactive in this arch (e.g. beyond its stage's depth)",
                                gene)
        return Arch.create(self.name, genes, self.options)

    def input_shape(self, arch: Arch, in_chans: int, batch: int = 1) -> tuple[int, int, int, int]:
        r = self.resolution(arch)
        return (batch, in_chans, r, r)

    def describe(self) -> dict[str, Any]:
        return {"space": self.name, "format": ARCH_FORMAT, "options": self.options, "size": self.size(),
                "log10_size": round(math.log10(self.size()), 2), "genes": len(self._dims)}


def _tuples(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


class SearchedNet(ZooModel):
    """``stem -> stages -> head -> [pre_logits] -> classifier``: the zoo's layout, so training, export,
    pruning and profiling treat a searched network like any zoo model. ``arch`` is kept on the module (and its
    JSON in ``arch_json``) so that a checkpoint's network can be rebuilt."""

    def __init__(self, arch: Arch, stem: nn.Module, stages: list[nn.Module], head: nn.Module, num_features: int,
                 num_classes: int, total_stride: int, pre_logits: nn.Module | None = None,
                 pre_logits_width: int | None = None, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.arch, self.arch_json = arch, arch.to_json()
        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.head = head
        self.num_features, self.total_stride = num_features, total_stride
        self.init_classifier(pre_logits_width or num_features, num_classes, drop_rate, pre_logits=pre_logits)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        if hasattr(self, "pre_logits"):
            x = self.pre_logits(x)
        return self.classifier(self.drop(x))
