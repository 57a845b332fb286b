"""The timing protocol and the interleaved-rounds driver, on fake runners with known costs."""

from __future__ import annotations

import numpy as np
import pytest

from measure import Measurement, TimingProtocol, interleave, time_runner
from tests.measure.fakes import FakeClock, FakeRunner


def test_the_run_count_floor_holds_when_runs_are_slow():
    clock = FakeClock()
    # 50 ms per run: the 0.1 s floor is passed after 2 runs, the count floor asks for 7
    res = time_runner(lambda: FakeRunner(clock, lambda i: 50.0), TimingProtocol(warmup=0, min_runs=7, min_time_s=0.1),
                      clock=clock)
    assert res.runs == 7


def test_the_time_floor_holds_when_runs_are_fast():
    clock = FakeClock()
    runner = FakeRunner(clock, lambda i: 1.0)
    res = time_runner(lambda: runner, TimingProtocol(warmup=2, min_runs=3, min_time_s=0.05), clock=clock)
    assert 50 <= res.runs <= 51  # 1 ms each: the count floor of 3 is long passed
    assert sum(res.samples_ms) >= 50.0 - 1e-6
    assert runner.calls == 1 + 2 + res.runs  # first run, warm-up, timed runs
    assert runner.closed


def test_median_spread_session_and_first_run_are_taken_apart():
    clock = FakeClock()
    # first run 40 ms, one warm-up 30 ms, then timed runs of 1, 2, ..., 8 ms
    costs = [40.0, 30.0, 1, 2, 3, 4, 5, 6, 7, 8]
    res = time_runner(lambda: FakeRunner(clock, lambda i: costs[i], create_ms=12.0),
                      TimingProtocol(warmup=1, min_runs=8, min_time_s=0.0), clock=clock)
    assert res.samples_ms == pytest.approx([1, 2, 3, 4, 5, 6, 7, 8])
    assert res.session_create_ms == pytest.approx(12.0)
    assert res.first_run_ms == pytest.approx(40.0)
    assert res.median_ms == pytest.approx(4.5)
    assert (res.p25_ms, res.p75_ms) == pytest.approx(tuple(np.percentile(np.arange(1, 9), [25, 75])))
    assert (res.min_ms, res.max_ms) == pytest.approx((1.0, 8.0))
    assert res.info == {"calls": 10}


def test_the_protocol_rejects_settings_that_measure_nothing():
    for bad in ({"min_runs": 0}, {"rounds": 0}, {"warmup": -1}, {"min_time_s": -1.0}):
        with pytest.raises(ValueError, match="timing protocol"):
            TimingProtocol(**bad)


def test_interleaved_rounds_give_same_round_ratios_through_a_slowdown():
    clock = FakeClock()
    order: list[str] = []
    round_of = {"n": 0}
    slow_round = 1

    def cost(base: float):
        # a machine-wide slowdown in one round makes everything in it three times slower
        return lambda i: base * (3.0 if round_of["n"] == slow_round else 1.0)

    def factory(label: str, base: float):
        return lambda: FakeRunner(clock, cost(base), create_ms=5.0, log=order, label=label)

    def next_round(r: int, results: dict) -> None:
        round_of["n"] = r + 1

    protocol = TimingProtocol(warmup=1, min_runs=5, min_time_s=0.0, rounds=3)
    res = interleave({"engine": factory("engine", 2.0), "ref": factory("ref", 4.0)}, protocol, reference="ref",
                     clock=clock, on_round=next_round)
    # each round every runner once, in an order rotated per round
    assert order == ["engine", "ref", "ref", "engine", "engine", "ref"]
    assert res.measurements["engine"].round_ms == pytest.approx([2.0, 6.0, 2.0])
    assert res.measurements["engine"].median_ms == pytest.approx(2.0)
    assert res.measurements["ref"].session_create_ms == pytest.approx(5.0)
    ratio = res.ratios["engine"]
    assert (ratio.median, ratio.min, ratio.max) == pytest.approx((0.5, 0.5, 0.5))
    assert ratio.same_round and res.ratios["ref"].median == pytest.approx(1.0)
    assert res.ratio("ref", "engine").median == pytest.approx(2.0)


def test_interleave_rejects_a_reference_it_does_not_measure():
    clock = FakeClock()
    with pytest.raises(ValueError, match="reference"):
        interleave({"a": lambda: FakeRunner(clock, lambda i: 1.0)}, TimingProtocol(), reference="b", clock=clock)


def test_a_measurement_survives_its_json_form():
    clock = FakeClock()
    res = interleave({"a": lambda: FakeRunner(clock, lambda i: 1.0 + i % 3)},
                     TimingProtocol(warmup=0, min_runs=6, min_time_s=0, rounds=2), clock=clock)
    m = res.measurements["a"]
    assert Measurement.from_dict(m.as_dict()) == m
    assert m.runs == 12 and m.iqr_ms == pytest.approx(m.p75_ms - m.p25_ms)
