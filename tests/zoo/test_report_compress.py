"""``python -m experiments.report`` over compress runs: one table per kind of run, settings from config.yaml,
and the distillation summary over seeds. Metrics follow what ``experiments.compress`` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from experiments.report import main
from experiments.reporting import ROW_KINDS, RunTableError, collect_rows, kind_of

COMPRESS = {"name": "compress", "model": "simple_cnn", "data": "fashion_mnist", "fp32_weight_bytes": 289104.0}
PTQ = {**COMPRESS, "method": "ptq", "fp32_top1": 90.0, "top1": 89.5, "weight_bytes": 72736.0,
       "size_ratio": 0.2516, "quantized_layers": 7, "onnx_top1": 89.5, "onnx_fp32_bytes": 291220,
       "onnx_qdq_bytes": 77911, "onnx_size_ratio": 0.2675, "onnx_opset": 17}
PRUNE = {**COMPRESS, "method": "prune_structured", "fp32_top1": 90.0, "top1": 88.0, "weight_bytes": 73136.0,
         "size_ratio": 0.25, "macs_before": 7338496, "macs_after": 1862912, "params_before": 72276,
         "params_after": 18284, "mac_reduction": 3.94, "latency_ms_before": 0.212, "latency_ms_after": 0.112,
         "speedup": 1.89, "sparsity": 0.0, "finetune_epochs": 1}
DISTILL = {**COMPRESS, "method": "distill_logit", "weight_bytes": 289104.0, "size_ratio": 1.0,
           "distill_epochs": 2, "distill_best_val_top1": 85.0, "distill_time_s": 5.0}


def _config(method: str, seed: int = 0, per_channel: bool = True, **options: Any) -> dict[str, Any]:
    tensor = {"bits": 8, "per_channel": per_channel, "calibrator": "minmax", "quantizer": "ste", "enabled": True}
    return {
        "model": {"name": "simple_cnn"},
        "train": {"seed": seed},
        "compress": {"method": method, "weight": tensor, "activation": {**tensor, "per_channel": False},
                     "ptq": {"bias_correction": False}, "binary": {"variant": "xnor"}, "options": options},
    }


def _run(root: Path, sub: str, metrics: dict[str, Any], config: dict[str, Any] | None) -> Path:
    run = root / sub
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics))
    if config is not None:
        OmegaConf.save(OmegaConf.create(config), run / "config.yaml")
    return run


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    _run(tmp_path, "train", {"model": "simple_cnn", "data": "fashion_mnist", "test_top1": 90.0, "params": 72276,
                             "macs": 7338496, "peak_activation_bytes": 100352, "train_time_s": 6.5},
         {"model": {"name": "simple_cnn"}})
    _run(tmp_path, "ptq_pc", PTQ, _config("ptq"))
    _run(tmp_path, "ptq_pt", {**PTQ, "top1": 88.25}, _config("ptq", per_channel=False))
    _run(tmp_path, "prune", PRUNE, _config("prune_structured", ratio=0.5, importance="l1"))
    for seed, (kd, plain) in enumerate([(86.0, 85.0), (88.0, 85.5)]):
        _run(tmp_path, f"kd_a09_s{seed}", {**DISTILL, "top1": kd, "fp32_top1": plain},
             _config("distill_logit", seed, teacher="runs/t", temperature=4.0, alpha=0.9))
    _run(tmp_path, "kd_a05_s0", {**DISTILL, "top1": 84.0, "fp32_top1": 85.0},
         _config("distill_logit", 0, teacher="runs/t", temperature=4.0, alpha=0.5))
    return tmp_path


def test_each_run_is_recognised_by_its_metrics():
    assert kind_of(PTQ, "x").name == "quantization"
    assert kind_of(PRUNE, "x").name == "pruning"
    assert kind_of({**PRUNE, "macs_before": None, "sparsity": 0.75}, "x").name == "pruning"  # unstructured
    assert kind_of({**DISTILL, "top1": 1.0, "fp32_top1": 1.0}, "x").name == "distillation"
    assert kind_of({"test_top1": 1.0}, "x").name == "train"
    assert set(ROW_KINDS.names()) == {"train", "quantization", "pruning", "distillation"}


def test_unknown_metrics_name_the_file_and_the_known_kinds():
    with pytest.raises(RunTableError, match=r"runs/x/metrics.json: not a run the report knows.*pruning"):
        kind_of({**COMPRESS, "method": "new_method", "top1": 1.0}, "runs/x/metrics.json")


def test_one_table_per_kind_with_settings_that_tell_a_sweep_apart(sweep, capsys):
    assert main([str(sweep)]) == 0
    # the training table is the file it always was, holding only training runs
    train_lines = (sweep / "zoo_table.md").read_text().splitlines()
    assert len(train_lines) == 3 and train_lines[2].startswith("| simple_cnn | fashion_mnist | 0.072 | 7.34 |")
    quant = (sweep / "zoo_table_quantization.md").read_text()
    assert "weight=8b per-channel minmax, act=8b minmax, seed=0" in quant
    assert "weight=8b per-tensor minmax" in quant
    assert "| 88.25 | -1.75 |" in quant and "quantizer=" not in quant  # QAT's quantizer only on QAT runs
    pruning = (sweep / "zoo_table_pruning.md").read_text()
    assert "ratio=0.5, importance=l1, seed=0" in pruning
    assert "| 7.34 -> 1.86 | 3.94 | 0.212 -> 0.112 | 1.89 |" in pruning
    records = json.loads((sweep / "zoo_table_quantization.json").read_text())
    assert [r["run"] for r in records] == ["ptq_pc", "ptq_pt"] and records[0]["onnx_qdq_bytes"] == 77911
    assert records[1]["settings"]["weight"] == "8b per-tensor minmax"
    out = capsys.readouterr().out
    assert "## pruning runs" in out and "7 runs ->" in out


def test_distillation_summary_is_mean_and_spread_over_seeds(sweep):
    assert main([str(sweep)]) == 0
    runs = (sweep / "zoo_table_distillation.md").read_text()
    assert "teacher=runs/t, temperature=4.0, alpha=0.9, seed=1" in runs and "| 88.00 | 85.50 | +2.50 |" in runs
    summary = json.loads((sweep / "zoo_table_distillation_summary.json").read_text())
    by_alpha = {s["settings"]["alpha"]: s for s in summary}
    two = by_alpha[0.9]
    assert two["runs"] == 2 and two["seeds"] == [0, 1] and "seed" not in two["settings"]
    assert two["top1_mean"] == pytest.approx(87.0) and two["top1_std"] == pytest.approx(2 ** 0.5)
    assert two["fp32_top1_mean"] == pytest.approx(85.25) and two["fp32_top1_std"] == pytest.approx(0.125 ** 0.5)
    assert two["gain_mean"] == pytest.approx(1.75)
    assert by_alpha[0.5]["runs"] == 1 and by_alpha[0.5]["top1_std"] is None
    md = (sweep / "zoo_table_distillation_summary.md").read_text()
    assert "| 2 | 87.00 | 1.41 | 85.25 | 0.35 | +1.75 |" in md and "| 1 | 84.00 | - | 85.00 | - | -1.00 |" in md


def test_rows_sort_by_kind_then_model_and_settings(sweep):
    kinds = [r.kind for r in collect_rows(sweep)]
    assert kinds == ["train", "quantization", "quantization", "pruning"] + ["distillation"] * 3


def test_compress_run_without_config_or_key_is_a_clear_error(tmp_path, capsys):
    _run(tmp_path, "a", PTQ, None)
    assert main([str(tmp_path)]) == 2
    assert "a/config.yaml is missing" in capsys.readouterr().err
    (tmp_path / "a" / "metrics.json").unlink()
    _run(tmp_path, "b", {k: v for k, v in PTQ.items() if k != "top1"}, _config("ptq"))
    (tmp_path / "a").rmdir()
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "b/metrics.json lacks top1" in err and "quantization row" in err


def test_list_settings_reach_the_json_and_bad_yaml_names_the_file(tmp_path, capsys):
    pairs = [["features.3", "stages.2"]]
    _run(tmp_path, "fd", {**DISTILL, "method": "distill_feature", "top1": 80.0, "fp32_top1": 79.0},
         _config("distill_feature", teacher="runs/t", feature_pairs=pairs, beta=1.0))
    assert main([str(tmp_path)]) == 0
    (record,) = json.loads((tmp_path / "zoo_table_distillation.json").read_text())
    assert record["settings"]["feature_pairs"] == pairs and record["settings"]["beta"] == 1.0
    (tmp_path / "fd" / "config.yaml").write_text("compress: [unclosed\n")
    assert main([str(tmp_path)]) == 2
    assert "fd/config.yaml is not valid YAML" in capsys.readouterr().err
