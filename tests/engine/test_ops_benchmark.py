"""Smoke test of experiments.benchmark: one tiny model, one round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments.benchmark import BenchmarkConfig, run_benchmark

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_config_composes_and_is_validated():
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("benchmark", overrides=["rounds=2", "threads=[1]"])
        assert cfg.rounds == 2 and list(cfg.threads) == [1] and "tv/mobilenet_v2" in cfg.models
        with pytest.raises(Exception, match="rounds"):
            compose("benchmark", overrides=["rounds=many"])


def test_benchmark_writes_ratios(tmp_path, capsys):
    cfg = BenchmarkConfig(models=["simple_cnn"], engines=["slimlab", "onnxruntime", "pytorch", "ncnn"], threads=[1],
                          rounds=1, warmup=1, iterations=2)
    results = run_benchmark(cfg, tmp_path)
    assert "ncnn" in capsys.readouterr().out  # skipped with a note
    (row,) = results
    assert row["engines"]["onnxruntime"]["ratio_to_ort"] == pytest.approx(1.0)
    assert row["engines"]["slimlab"]["median_ms"] > 0
    saved = json.loads((tmp_path / "benchmark.json").read_text())
    assert saved["results"][0]["model"] == "simple_cnn"
    assert "simple_cnn" in (tmp_path / "benchmark.md").read_text()
    assert OmegaConf.structured(cfg).rounds == 1


def test_benchmark_rejects_an_empty_model_list(tmp_path):
    with pytest.raises(ValueError, match="models is empty"):
        run_benchmark(BenchmarkConfig(models=[]), tmp_path)
