"""A fake clock and runners whose every run costs a known time on it: timing logic tested exactly."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from measure.runners.base import InputSpec, Runner


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += ms / 1e3


class FakeRunner(Runner):
    """Run ``i`` (0-based, the first run included) costs ``cost_ms(i)`` on ``clock``."""

    name = "fake"
    model_kind = "slm"

    def __init__(self, clock: FakeClock, cost_ms: Callable[[int], float], create_ms: float = 0.0,
                 log: list[str] | None = None, label: str = "fake") -> None:
        clock.advance_ms(create_ms)
        self.clock, self.cost_ms, self.calls, self.threads = clock, cost_ms, 0, 1
        self.inputs = [InputSpec("input", (1, 2), "float32")]
        self.closed = False
        if log is not None:
            log.append(label)

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        self.clock.advance_ms(self.cost_ms(self.calls))
        self.calls += 1
        return [np.zeros(1, np.float32)]

    def info(self) -> dict:
        return {"calls": self.calls}

    def close(self) -> None:
        self.closed = True
