"""``python -m experiments.compress`` and the parity CLI, run as a user would, on tiny synthetic data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[3]
QUICK = [
    "data=synthetic",
    "data.options.num_samples=160",
    "train.epochs=1",
    "train.max_steps_per_epoch=2",
    "compress.ptq.calibration_batches=2",
]


def _run(module: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_ptq_run_directory_export_and_parity_cli(tmp_path):
    proc = _run("experiments.compress", [*QUICK, "compress=ptq", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("config.yaml", "metrics.json", "summary.md", "checkpoints/compressed.pt", "model.fp32.onnx",
                 "model.qdq.onnx"):
        assert (tmp_path / name).is_file(), name
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["method"] == "ptq" and 0 <= m["top1"] <= 100
    assert abs(m["onnx_top1"] - m["top1"]) <= 1.0
    assert m["onnx_qdq_bytes"] < 0.3 * m["onnx_fp32_bytes"]
    assert m["size_ratio"] < 0.3
    parity = _run("compression.quantization.parity", [str(tmp_path), "--batch-size", "16"])
    assert parity.returncode in (0, 1), parity.stderr[-3000:]
    assert "first layer off by more than one step" in parity.stdout
    assert "steps" in parity.stdout and "top-1 agreement 100.00%" in parity.stdout


def _cfg(overrides: list[str]):
    from configs.schema import register_configs

    register_configs()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        return compose("compress", overrides=overrides)


def test_per_layer_overrides_compose_from_the_command_line():
    from compression.quantization import LayerOverride
    from experiments.compress_methods.quant_config import build_quant_config

    cfg = _cfg(["compress=ptq", "+compress.overrides={stages.0.*:{activation_calibrator:minmax,weight_bits:6}}"])
    quant = build_quant_config(cfg.compress)
    assert quant.overrides == {"stages.0.*": LayerOverride(weight_bits=6, activation_calibrator="minmax")}


def test_bad_bit_width_fails_before_any_work(tmp_path):
    from experiments.runs import RunDir
    from experiments.steps.compress import compress

    cfg = _cfg([*QUICK, "compress.weight.bits=12", f"source_run={tmp_path / 'does-not-exist'}"])
    with pytest.raises(ValueError, match="compress.weight: bit width must be an integer in \\[2, 8\\], got 12"):
        compress(cfg, RunDir(tmp_path / "out"))
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_unknown_method_fails_before_any_work(tmp_path):
    from configs.registry import UnknownNameError
    from experiments.runs import RunDir
    from experiments.steps.compress import compress

    cfg = _cfg([*QUICK, "compress.method=qatt"])
    with pytest.raises(UnknownNameError, match="Did you mean: qat"):
        compress(cfg, RunDir(tmp_path))


def test_checkpoint_not_matching_the_model_config_is_named(tmp_path):
    from experiments.runs import CheckpointError, RunDir
    from experiments.steps.compress import compress

    source = RunDir(tmp_path / "train")
    train_cfg = _cfg(QUICK)
    train_cfg.model.num_classes = 4
    source.write_config(train_cfg)
    source.save_checkpoint({"model": {"features.0.conv.weight": torch.zeros(3, 3)}}, "best")
    cfg = _cfg([*QUICK, f"source_run={source.path}"])
    with pytest.raises(CheckpointError, match="does not match the model configuration"):
        compress(cfg, RunDir(tmp_path / "out"))
    assert not (tmp_path / "out" / "config.yaml").exists()


@pytest.mark.parametrize("option", sorted(p.stem for p in (ROOT / "configs" / "compress").glob("*.yaml")))
def test_every_compress_option_composes_and_validates(option):
    from experiments.compress_methods import COMPRESS_METHODS, import_methods
    from experiments.compress_methods.quant_config import build_quant_config

    import_methods()  # the methods register on import; do not rely on another test having imported them
    cfg = _cfg([f"compress={option}"])
    assert cfg.compress.method in COMPRESS_METHODS
    config = build_quant_config(cfg.compress)
    assert config.weight is not None and 2 <= config.weight.spec.bits <= 8


@pytest.mark.parametrize(("experiment", "method", "swept"), [
    ("ptq_fmnist", "ptq", {"compress.weight.per_channel", "compress.activation.calibrator"}),
    ("prune_fmnist", "prune_structured", {"compress.options.ratio"}),
])
def test_results_table_experiments_compose_on_the_compress_entry_point(experiment, method, swept):
    from configs.schema import register_configs

    register_configs()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("compress", overrides=[f"+experiment={experiment}"], return_hydra_config=True)
    assert cfg.compress.method == method and cfg.data.name == "fashion_mnist" and cfg.data.limit_eval == 2000
    assert set(cfg.hydra.sweeper.params) == swept
    assert cfg.hydra.sweep.dir.startswith(f"multirun/{experiment}/")


def test_finetune_control_trains_the_fp32_model_and_reports_with_the_quantization_runs(tmp_path):
    from experiments.reporting.kinds import kind_of
    from experiments.runs import RunDir
    from experiments.steps.compress import compress

    cfg = _cfg([*QUICK, "compress=finetune", "compress.qat.epochs=1"])
    result = compress(cfg, RunDir(tmp_path))
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["method"] == "finetune" and m["fp32_finetune_epochs"] == 1 and m["size_ratio"] == 1.0
    assert (tmp_path / "finetune" / "history.jsonl").is_file() and not (tmp_path / "model.qdq.onnx").exists()
    trained = torch.load(tmp_path / "fp32" / "checkpoints" / "last.pt", weights_only=False)["model"]
    tuned = result["model"].state_dict()
    assert any(not torch.equal(trained[k], tuned[k]) for k in trained if trained[k].is_floating_point())
    assert kind_of(m, tmp_path).name == "quantization"
