"""Hardware-aware neural architecture search, with latency measured on the bundled engine in the loop.

    from nas import make_space, run_search, SearchSettings, open_storage, EngineLatency, build_model, Arch
    space = make_space("mbconv", resolutions=[28], small_input=True)
    arch = space.sample(random.Random(0))                     # plain data: hashable, JSON round-trip
    model = build_model(arch.to_json(), num_classes=10, in_chans=1)   # an ordinary ZooModel
    result = run_search(space, evaluate, SearchSettings(objectives=["accuracy", "latency"]),
                        open_storage(None, run_dir), run_dir)

``evaluate(arch, ctx) -> metrics`` is injected by the caller (``experiments.search`` trains a proxy; the regret
benchmark scores a synthetic function): this package defines spaces (``nas.spaces``), strategies as Optuna
samplers (``nas.strategies``), objectives and constraints (``nas.objectives``), the loop (``nas.search``),
storage (``nas.storage``), latency sources (``nas.latency``), curve pruning (``nas.pruning``) and the report
(``nas.report``). Layer: above ``measure``, below ``experiments``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nas.arch import ARCH_FORMAT, Arch, ArchError
from nas.latency import SEARCH_PROTOCOL, EngineLatency, LatencySource, complexity
from nas.objectives import OBJECTIVES, Constraint, Objective, constraint, objectives
from nas.pruning import CurvePruner, make_pruner
from nas.search import (
    CandidateInfeasible,
    InfeasibleSearchError,
    SearchResult,
    SearchSettings,
    StudyMismatchError,
    TrialContext,
    run_search,
)
from nas.spaces import SPACES, SearchedNet, SearchSpace, make_space
from nas.storage import StorageUnreachableError, open_storage
from nas.strategies import STRATEGIES, EvolutionSampler, make_sampler


def space_of(arch: Arch) -> SearchSpace:
    """The space an arch was sampled from, with the options recorded in it (an unknown space name lists the
    registered ones)."""
    try:
        return make_space(arch.space, **arch.option_dict)
    except ArchError:
        raise
    except ValueError as exc:  # UnknownNameError is a KeyError and passes through, listing the spaces
        raise ArchError(f"arch options do not fit space '{arch.space}': {exc}", "options") from exc


def build_model(arch: Arch | Mapping[str, Any] | str, num_classes: int = 10, in_chans: int = 3,
                drop_rate: float = 0.0) -> SearchedNet:
    """The network of an arch given as ``Arch``, its dict or its JSON text; refused (``ArchError``) when it is
    of a newer format or does not validate in its space."""
    if isinstance(arch, str):
        arch = Arch.from_dict(json.loads(arch))
    elif not isinstance(arch, Arch):
        arch = Arch.from_dict(arch)
    space = space_of(arch)
    return space.build(arch, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)


__all__ = [
    "ARCH_FORMAT",
    "OBJECTIVES",
    "SEARCH_PROTOCOL",
    "SPACES",
    "STRATEGIES",
    "Arch",
    "ArchError",
    "CandidateInfeasible",
    "Constraint",
    "CurvePruner",
    "EngineLatency",
    "EvolutionSampler",
    "InfeasibleSearchError",
    "LatencySource",
    "Objective",
    "SearchResult",
    "SearchSettings",
    "SearchSpace",
    "SearchedNet",
    "StorageUnreachableError",
    "StudyMismatchError",
    "TrialContext",
    "build_model",
    "complexity",
    "constraint",
    "make_pruner",
    "make_sampler",
    "make_space",
    "objectives",
    "open_storage",
    "run_search",
    "space_of",
]
