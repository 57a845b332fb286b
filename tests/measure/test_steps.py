"""The ``export`` and ``measure`` pipeline steps write model.onnx, model.slm and latency.json into the run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from configs.registry import UnknownNameError
from configs.schema import ExperimentConfig
from experiments.pipeline import run_pipeline
from experiments.runs import RunDir
from experiments.steps import STEPS, PipelineContext
from experiments.steps.export import export_step
from experiments.steps.measure import measure_step
from measure import RunnerUnavailableError
from measure.runners.openvino import OpenVinoRunner
from tests.measure.conftest import tiny_cnn

QUICK = ["measure.rounds=2", "measure.min_runs=2", "measure.min_time_s=0.0", "measure.warmup=0",
         "export.verify=false"]


def _cfg(*overrides: str):
    return OmegaConf.merge(OmegaConf.structured(ExperimentConfig), OmegaConf.from_dotlist([*QUICK, *overrides]))


def _trained(tmp_path, **result):
    run = RunDir(tmp_path)
    run.write_metrics({"name": "t", "test_top1": 50.0})
    ctx = PipelineContext(run=run)
    ctx.results["train"] = {"model": tiny_cnn(), "metrics": {"input_shape": [1, 1, 16, 16]}, **result}
    return ctx


def test_the_steps_are_registered_by_name():
    assert STEPS.get("export") is export_step and STEPS.get("measure") is measure_step


def test_the_pipeline_rejects_bad_measure_settings_before_any_step_runs(tmp_path):
    with pytest.raises(UnknownNameError, match="Valid runner names"):
        run_pipeline(_cfg("pipeline=[export,measure]", "measure.runners=[slimlab,onnxruntime,tflite]"), tmp_path)
    with pytest.raises(ValueError, match="reference"):
        run_pipeline(_cfg("pipeline=[export,measure]", "measure.reference=openvino"), tmp_path)
    with pytest.raises(ValueError, match="export.weights"):
        run_pipeline(_cfg("pipeline=[export,measure]", "export.weights=int3"), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


def test_export_then_measure_fill_the_run_directory(tmp_path):
    cfg = _cfg("measure.threads=[1,2]", "measure.runners=[slimlab,onnxruntime,pytorch]")
    ctx = _trained(tmp_path)
    ctx.results["export"] = export_step(cfg, ctx)
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "model.slm").is_file()
    assert "Conv" in (tmp_path / "conversion.txt").read_text()
    ctx.results["measure"] = measure_step(cfg, ctx)

    latency = json.loads((tmp_path / "latency.json").read_text())
    rows = {(r["runner"], r["threads"]): r for r in latency["results"]}
    assert set(rows) == {(r, t) for r in ("slimlab", "onnxruntime", "pytorch") for t in (1, 2)}
    for row in rows.values():
        assert row["median_ms"] > 0 and row["session_create_ms"] > 0 and row["first_run_ms"] > 0
        assert len(row["round_ms"]) == 2 and row["p25_ms"] <= row["median_ms"] * 1.5 and row["iqr_ms"] >= 0
        assert not row["cached"]
    assert rows[("onnxruntime", 2)]["ratio_to_reference"]["median"] == pytest.approx(1.0)
    assert "speedup_vs_1_threads" in rows[("slimlab", 2)] and "speedup_vs_1_threads" not in rows[("slimlab", 1)]
    assert latency["input_shape"] == [1, 1, 16, 16] and latency["protocol"]["rounds"] == 2
    assert latency["machine"]["cpu"] and latency["engine"]["arena_bytes"] > 0
    assert latency["files"]["slm"]["bytes"] == (tmp_path / "model.slm").stat().st_size

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_top1"] == 50.0  # merged, not overwritten
    assert metrics["slm_bytes"] == (tmp_path / "model.slm").stat().st_size and metrics["onnx_bytes"] > 0
    assert metrics["latency_ms"]["slimlab"]["1"] == rows[("slimlab", 1)]["median_ms"]
    assert metrics["latency_ms"]["pytorch"]["2"] == rows[("pytorch", 2)]["median_ms"]
    assert metrics["latency_vs_reference"]["slimlab"]["2"] == rows[("slimlab", 2)]["ratio_to_reference"]["median"]
    assert metrics["engine_arena_bytes"] == latency["engine"]["arena_bytes"]


def test_the_input_shape_comes_from_the_data_bundle(tmp_path):
    ctx = _trained(tmp_path, data=SimpleNamespace(channels=1, image_size=12))
    ctx.results["train"]["metrics"] = {}
    out = export_step(_cfg(), ctx)
    assert out["input_shape"] == [1, 1, 12, 12]


def test_a_cached_measure_step_times_nothing_again(tmp_path):
    cfg = _cfg("measure.threads=[1]", "measure.cache=true", f"measure.cache_dir={tmp_path / 'cache'}")
    ctx = _trained(tmp_path / "run")
    ctx.results["export"] = export_step(cfg, ctx)
    first = measure_step(cfg, ctx)["latency"]["results"]
    second = measure_step(cfg, ctx)["latency"]["results"]
    assert all(r["cached"] for r in second) and not any(r["cached"] for r in first)
    assert [r["median_ms"] for r in second] == [r["median_ms"] for r in first]
    assert not second[0]["ratio_to_reference"]["same_round"]


def test_measure_without_export_or_with_a_missing_runner_fails_before_timing(tmp_path, monkeypatch):
    ctx = _trained(tmp_path)
    with pytest.raises(FileNotFoundError, match="export step"):
        measure_step(_cfg(), ctx)
    ctx.results["export"] = export_step(_cfg(), ctx)
    monkeypatch.setattr(OpenVinoRunner, "requires", "no_such_module_for_slimlab_tests")
    with pytest.raises(RunnerUnavailableError, match="openvino"):
        measure_step(_cfg("measure.runners=[slimlab,onnxruntime,openvino]"), ctx)
    assert not (tmp_path / "latency.json").exists()


def test_export_without_a_model_names_the_missing_step(tmp_path):
    with pytest.raises(ValueError, match="train or compress"):
        export_step(_cfg(), PipelineContext(run=RunDir(tmp_path)))
