"""The load generator and the overhead measurement run end to end (briefly) and write their results."""

from __future__ import annotations

import json
from pathlib import Path

from serving import loadgen, overhead, soak
from tests.serving.conftest import quick


def test_loadgen_sweeps_and_writes_json_csv_and_plot(serve, dense_file: Path, tmp_path: Path):
    s = serve(quick(dense_file))
    points, config = loadgen.sweep(s.url, "dense", [1, 3], warmup_s=0.1, duration_s=0.4, label="t",
                                   log=lambda line: None)
    assert [p.concurrency for p in points] == [1, 3]
    assert all(p.requests > 0 and p.errors == 0 and p.p50_ms <= p.p99_ms for p in points)
    assert all(p.server_mean_batch_rows >= 1 and p.server_compute_ms > 0 for p in points)  # from /stats
    assert config["max_batch_size"] == 8
    written = loadgen.write_results(tmp_path / "out", points, {"model": "dense", "duration_s": 0.4})
    assert {p.name for p in written} == {"loadgen.json", "loadgen.csv", "loadgen.png"}
    doc = json.loads((tmp_path / "out/loadgen.json").read_text())
    assert [p["concurrency"] for p in doc["points"]] == [1, 3]
    assert (tmp_path / "out/loadgen.csv").read_text().count("\n") == 3


def test_loadgen_command_spawns_the_server_with_and_without_batching(dense_file: Path, tmp_path: Path):
    assert loadgen.main(["--spawn", str(dense_file), "--compare-batching", "--concurrency", "2",
                         "--duration", "0.3", "--warmup", "0.1", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "loadgen.json").read_text())
    assert [p["label"] for p in doc["points"]] == ["dynamic batching 0 us", "no batching"]
    assert all(p["errors"] == 0 and p["requests"] > 0 for p in doc["points"])
    assert "dynamic_batching" in doc["servers"][0]["config"] and "dynamic_batching" not in doc["servers"][1]["config"]
    assert "batching_gain" in doc  # the figure itself may be None on so short a sweep


def _point(label: str, c: int, rps: float, p99: float) -> loadgen.Point:
    return loadgen.Point(label, c, int(rps), 0, {}, 1.0, rps, rps, p99 / 2, p99 * 0.9, p99, p99 / 2)


def test_batching_gain_is_taken_at_the_unbatched_peaks_p99():
    points = [_point("plain", 1, 100, 2.0), _point("plain", 4, 300, 5.0), _point("plain", 16, 280, 20.0),
              _point("batched", 1, 90, 2.5), _point("batched", 4, 450, 4.8), _point("batched", 16, 900, 9.0)]
    gain = loadgen.batching_gain(points, "batched", "plain")
    # the budget is plain's best-throughput point (300 req/s at p99 5 ms), not its last one
    assert gain["p99_budget_ms"] == 5.0 and gain["unbatched_rps"] == 300
    assert gain["batched_rps"] == 450 and gain["batched_concurrency"] == 4 and gain["gain"] == 1.5
    assert loadgen.batching_gain(points[:3], "batched", "plain") is None
    assert loadgen.batching_gain([*points[:3], _point("batched", 1, 500, 6.0)], "batched", "plain") is None


def test_soak_accounts_for_every_request_against_the_servers_counters(serve, dense_file: Path):
    s = serve(quick(dense_file))
    result = soak.soak(s.url, "dense", rate=80, duration_s=1.5, processes=2)
    assert result.sent == 120 and result.answered == 120 and result.failed == result.lost == 0
    assert result.server_success == 120 and result.server_failed == 0 and result.clean
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    assert len(result.per_minute_rps) == 1 and result.per_minute_rps[0] == 80


def test_soak_command_finds_the_peak_then_loads_a_fraction_of_it(dense_file: Path, tmp_path: Path):
    assert soak.main(["--spawn", str(dense_file), "--fraction", "0.5", "--peak-concurrency", "2",
                      "--peak-duration", "0.5", "--duration", "1", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "soak.json").read_text())
    assert doc["clean"] and doc["fraction"] == 0.5 and doc["peak_rps"] > 0
    assert doc["rate_rps"] == doc["peak_rps"] * 0.5 and doc["sent"] == int(doc["rate_rps"])
    assert doc["answered"] == doc["sent"] == doc["server_success"]


def test_overhead_measurement_reports_its_figures(dense_file: Path, tmp_path: Path):
    out = tmp_path / "overhead.json"
    assert overhead.main(["--model", str(dense_file), "--requests", "200", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert 0 < r["bare_run_p50_ms"] < r["infer_p50_ms"]
    assert r["http_round_trip_p50_ms"] > 0 and r["overhead_p50_ms"] == r["infer_p50_ms"] - r["bare_run_p50_ms"]
    assert r["server_compute_mean_ms"] > 0
