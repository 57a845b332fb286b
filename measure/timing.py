"""The timing protocol, used by every latency figure slimlab reports.

One measurement of one runner (a "round"):

1. create a fresh session (timed: ``session_create_ms``);
2. run once (timed: ``first_run_ms``; it pays for lazy planning, page faults, cold caches);
3. ``warmup`` untimed runs;
4. timed runs until both ``min_runs`` runs are done and ``min_time_s`` has passed: a count alone
   gives tiny models too few milliseconds to be stable, a time floor alone gives big models too
   few samples for a median;
5. median and spread (quartiles, min, max) of those runs.

A machine shared with other work is the normal case, so runners are compared in interleaved
rounds: every round measures every runner once, back to back (each with a fresh session, in an
order rotated per round so that no runner is always first after a pause), and a ratio between
two runners is taken within each round and then summarised over rounds. A slowdown that lasts
a round hits both sides of a ratio alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from measure.runners.base import Runner

K = TypeVar("K", bound=Hashable)
Clock = Callable[[], float]


@dataclass(frozen=True)
class TimingProtocol:
    warmup: int = 3
    min_runs: int = 10
    min_time_s: float = 0.2
    rounds: int = 5
    # seed of the example inputs (the same for every runner)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.min_runs < 1 or self.rounds < 1 or self.min_time_s < 0:
            raise ValueError(f"timing protocol needs warmup >= 0, min_runs >= 1, rounds >= 1 and "
                             f"min_time_s >= 0; got {self}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quartiles(samples: list[float]) -> tuple[float, float, float]:
    p25, p50, p75 = np.percentile(np.asarray(samples, dtype=np.float64), [25, 50, 75])
    return float(p25), float(p50), float(p75)


@dataclass
class TimingResult:
    """One round of one runner; times in milliseconds."""

    median_ms: float
    p25_ms: float
    p75_ms: float
    min_ms: float
    max_ms: float
    runs: int
    session_create_ms: float
    first_run_ms: float
    samples_ms: list[float] = field(default_factory=list, repr=False)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_samples(cls, samples_ms: list[float], session_create_ms: float, first_run_ms: float,
                     info: dict[str, Any] | None = None) -> TimingResult:
        p25, p50, p75 = _quartiles(samples_ms)
        return cls(p50, p25, p75, min(samples_ms), max(samples_ms), len(samples_ms), session_create_ms,
                   first_run_ms, list(samples_ms), dict(info or {}))

    @property
    def iqr_ms(self) -> float:
        return self.p75_ms - self.p25_ms


@dataclass
class Measurement:
    """One runner over all rounds; times in milliseconds.

    ``median_ms`` is the median of the round medians (a round hit by a slowdown moves it
    little); the quartiles, min and max are over every timed run of every round;
    ``round_ms`` keeps the round medians; session creation and first run are medians over
    rounds. ``info`` is what the runner reported in its last round.
    """

    median_ms: float
    p25_ms: float
    p75_ms: float
    min_ms: float
    max_ms: float
    runs: int
    session_create_ms: float
    first_run_ms: float
    round_ms: list[float]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rounds(cls, rounds: list[TimingResult]) -> Measurement:
        if not rounds:
            raise ValueError("no rounds to summarise")
        pooled = [s for r in rounds for s in r.samples_ms]
        p25, _, p75 = _quartiles(pooled)
        return cls(
            median_ms=statistics.median(r.median_ms for r in rounds), p25_ms=p25, p75_ms=p75,
            min_ms=min(pooled), max_ms=max(pooled), runs=len(pooled),
            session_create_ms=statistics.median(r.session_create_ms for r in rounds),
            first_run_ms=statistics.median(r.first_run_ms for r in rounds),
            round_ms=[r.median_ms for r in rounds], info=dict(rounds[-1].info),
        )

    @property
    def iqr_ms(self) -> float:
        return self.p75_ms - self.p25_ms

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "iqr_ms": self.iqr_ms}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Measurement:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Ratio:
    """``a / b`` over rounds: the median, min and max of the per-round ratios (same-round when
    ``same_round``; otherwise, e.g. for a cached figure, the ratio of the two medians)."""

    median: float
    min: float
    max: float
    same_round: bool = True

    @classmethod
    def of(cls, a: list[float], b: list[float]) -> Ratio:
        per_round = [x / y for x, y in zip(a, b)]
        return cls(statistics.median(per_round), min(per_round), max(per_round), True)

    @classmethod
    def of_medians(cls, a: Measurement, b: Measurement) -> Ratio:
        r = a.median_ms / b.median_ms
        return cls(r, r, r, False)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_runner(make: Callable[[], Runner], protocol: TimingProtocol, *,
                feeds: Mapping[str, np.ndarray] | None = None, clock: Clock = time.perf_counter) -> TimingResult:
    """One round of the protocol on a fresh session made by ``make``."""
    t0 = clock()
    runner = make()
    created = clock()
    try:
        data = runner.example_feeds(protocol.seed) if feeds is None else feeds
        t1 = clock()
        runner.run(data)
        first = clock() - t1
        for _ in range(protocol.warmup):
            runner.run(data)
        samples: list[float] = []
        start = clock()
        while True:
            t = clock()
            runner.run(data)
            end = clock()
            samples.append((end - t) * 1e3)
            if len(samples) >= protocol.min_runs and end - start >= protocol.min_time_s:
                break
        info = runner.info()
    finally:
        runner.close()
    return TimingResult.from_samples(samples, (created - t0) * 1e3, first * 1e3, info)


@dataclass
class Interleaved(Generic[K]):
    """What ``interleave`` measured: per key the summary, per round every key's result."""

    measurements: dict[K, Measurement]
    rounds: list[dict[K, TimingResult]]
    reference: K | None = None

    def ratio(self, a: K, b: K) -> Ratio:
        """Same-round ratio ``a / b`` of the round medians."""
        return Ratio.of([r[a].median_ms for r in self.rounds], [r[b].median_ms for r in self.rounds])

    @property
    def ratios(self) -> dict[K, Ratio]:
        """Every key against the reference (empty without one)."""
        if self.reference is None:
            return {}
        return {k: self.ratio(k, self.reference) for k in self.measurements}


def interleave(factories: Mapping[K, Callable[[], Runner]], protocol: TimingProtocol, *,
               reference: K | None = None, feeds: Mapping[K, Mapping[str, np.ndarray]] | None = None,
               clock: Clock = time.perf_counter,
               on_round: Callable[[int, dict[K, TimingResult]], None] | None = None) -> Interleaved[K]:
    """``protocol.rounds`` rounds; each round times every factory's fresh runner once.

    ``feeds`` per key overrides the runner's seeded example inputs.
    """
    keys = list(factories)
    if not keys:
        raise ValueError("nothing to measure: no runners given")
    if reference is not None and reference not in factories:
        raise ValueError(f"reference {reference!r} is not among the measured runners {keys}")
    rounds: list[dict[K, TimingResult]] = []
    for r in range(protocol.rounds):
        shift = r % len(keys)
        this: dict[K, TimingResult] = {}
        for key in keys[shift:] + keys[:shift]:
            this[key] = time_runner(factories[key], protocol, feeds=None if feeds is None else feeds.get(key),
                                    clock=clock)
        rounds.append({k: this[k] for k in keys})
        if on_round is not None:
            on_round(r, rounds[-1])
    measurements = {k: Measurement.from_rounds([rd[k] for rd in rounds]) for k in keys}
    return Interleaved(measurements, rounds, reference)


def measure_runner(make: Callable[[], Runner], protocol: TimingProtocol, *,
            clock: Clock = time.perf_counter) -> Measurement:
    """One runner alone: ``protocol.rounds`` fresh sessions, summarised."""
    return interleave({"runner": make}, protocol, clock=clock).measurements["runner"]
