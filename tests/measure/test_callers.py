"""The thin callers of measure: the benchmark's engine list and the compressed-latency table."""

from __future__ import annotations

import pytest

from configs.registry import UnknownNameError
from experiments.benchmark import available_engines
from experiments.compressed_latency import LatencyRow, to_markdown
from measure import TimingProtocol
from measure.runners.openvino import OpenVinoRunner


def test_the_benchmark_skips_what_is_not_installed_and_rejects_unknown_engines(monkeypatch, capsys):
    monkeypatch.setattr(OpenVinoRunner, "requires", "no_such_module_for_slimlab_tests")
    assert available_engines(["slimlab", "onnxruntime", "openvino", "mnn"]) == ["slimlab", "onnxruntime"]
    out = capsys.readouterr().out
    assert "openvino is not installed" in out and "mnn needs its own model conversion" in out
    with pytest.raises(UnknownNameError, match="Valid runner names: onnxruntime, openvino, pytorch, slimlab"):
        available_engines(["slimlab", "onnxruntime", "tensorrt"])
    with pytest.raises(ValueError, match="must include onnxruntime"):
        available_engines(["slimlab"])


def _row(threads: int, thread_speedup: float | None) -> LatencyRow:
    return LatencyRow(run="r", model="simple_cnn", method="prune_structured", setting="ratio=0.5", threads=threads,
                      macs_before=4_000_000, macs_after=1_000_000, slimlab_ms_before=2.0, slimlab_ms_after=1.0,
                      slimlab_iqr_ms_after=0.2, slimlab_speedup=2.0, slimlab_speedup_min=1.8, slimlab_speedup_max=2.1,
                      onnxruntime_ms_before=3.0, onnxruntime_ms_after=2.0, onnxruntime_speedup=1.5,
                      slimlab_thread_speedup=thread_speedup, slm_bytes_before=4000, slm_bytes_after=1000,
                      precision_after="int8" if threads == 2 else "fp32")


def test_the_compressed_latency_table_shows_spread_and_thread_scaling():
    text = to_markdown([_row(1, None), _row(2, 1.7)], TimingProtocol(rounds=3))
    one, two = text.strip().splitlines()[-2:]
    assert "| 4.00× |" in one and "2.000 → 1.000 ±0.100" in one and "2.00× [1.80-2.10]" in one
    assert one.endswith("|  | fp32 | 4.00× |") and two.endswith("| 1.70× | int8 | 4.00× |")
    assert "3 interleaved rounds" in text
