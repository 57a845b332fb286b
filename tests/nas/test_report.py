"""The searched-vs-zoo table: both readings (accuracy at equal latency, latency at equal accuracy)."""

from __future__ import annotations

from nas.report.tables import equal_latency_rows


def _row(number: int, top1: float, ms: float, *, status: str = "complete", feasible: bool = True) -> dict:
    return {"number": number, "val_top1": top1, "latency_ms": ms, "status": status, "feasible": feasible,
            "duplicate_of": None}


ROWS = [_row(0, 80.0, 0.5), _row(1, 85.0, 0.9), _row(2, 88.0, 1.5), _row(3, 99.0, 0.4, status="pruned"),
        _row(4, 95.0, 0.3, feasible=False)]


def test_most_accurate_no_slower_and_fastest_as_accurate() -> None:
    (c,) = equal_latency_rows(ROWS, [{"name": "mnv3", "val_top1": 84.0, "latency_ms": 1.0}])
    # #3 (pruned: a partial curve) and #4 (infeasible) never count, however good they look
    assert (c["searched_at_latency"], c["delta_top1"]) == (1, 1.0)
    assert (c["fastest_at_top1"], c["latency_ratio"]) == (1, 0.9)


def test_a_baseline_nothing_matches_is_said_so() -> None:
    fast, accurate = equal_latency_rows(ROWS, [{"name": "tiny", "val_top1": 70.0, "latency_ms": 0.2},
                                               {"name": "big", "val_top1": 90.0, "latency_ms": 2.0}])
    assert fast["searched_at_latency"] is None and fast["fastest_at_top1"] == 0
    assert accurate["searched_at_latency"] == 2 and accurate["delta_top1"] == -2.0
    assert accurate["fastest_at_top1"] is None and accurate["latency_ratio"] is None
    assert equal_latency_rows(ROWS, [{"name": "failed", "val_top1": None, "latency_ms": 1.0}]) == []
