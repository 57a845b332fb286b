"""The load generator and the overhead measurement run end to end (briefly) and write their results."""

from __future__ import annotations

import json
from pathlib import Path

from serving import loadgen, overhead
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


def test_overhead_measurement_reports_its_figures(dense_file: Path, tmp_path: Path):
    out = tmp_path / "overhead.json"
    assert overhead.main(["--model", str(dense_file), "--requests", "200", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert 0 < r["bare_run_p50_ms"] < r["infer_p50_ms"]
    assert r["http_round_trip_p50_ms"] > 0 and r["overhead_p50_ms"] == r["infer_p50_ms"] - r["bare_run_p50_ms"]
    assert r["server_compute_mean_ms"] > 0
