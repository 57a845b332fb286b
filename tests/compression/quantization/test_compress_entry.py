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
from omegaconf import OmegaConf

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
    # the engine runs the same file in integers: same predictions as ONNX Runtime, int8 engine file
    assert (tmp_path / "model.int8.slm").is_file()
    assert m["engine_onnx_same_top1"] >= 0.99 and abs(m["engine_top1"] - m["onnx_top1"]) <= 1.0
    assert m["onnx_qdq_bytes"] < 0.3 * m["onnx_fp32_bytes"]
    assert m["size_ratio"] < 0.3
    parity = _run("experiments.parity", [str(tmp_path), "--batch-size", "16"])
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
    from experiments.compress_methods import validate_compress

    cfg = _cfg(["compress=ptq", "+compress.overrides={stages.0.*:{activation_calibrator:minmax,weight_bits:6}}"])
    quant = validate_compress(cfg)
    assert quant.overrides == {"stages.0.*": LayerOverride(weight_bits=6, activation_calibrator="minmax")}


def test_misspelled_pruning_option_fails_like_a_misspelled_quantization_one(tmp_path):
    from experiments.compress_methods import validate_compress

    cfg = _cfg([*QUICK, "compress=prune_structured", "compress.options.ratoi=0.5"])
    with pytest.raises(ValueError, match=r"compress\.options\.ratoi: not a setting of compress method "
                                         r"'prune_structured' \(StructuredOptions\)\. Did you mean: ratio"):
        validate_compress(cfg)
    with pytest.raises(ValueError, match="could not be converted to Float"):
        validate_compress(_cfg(["compress=prune_structured", "compress.options.ratio=half"]))


def test_unknown_option_stops_the_entry_point_before_any_model_is_built(tmp_path):
    proc = _run("experiments.compress", [*QUICK, "compress=prune_structured", "compress.options.ratoi=0.5",
                                         f"hydra.run.dir={tmp_path}"])
    assert proc.returncode != 0
    assert "compress.options.ratoi: not a setting of compress method 'prune_structured'" in proc.stderr
    assert not (tmp_path / "fp32").exists() and not (tmp_path / "config.yaml").exists()


@pytest.mark.parametrize("overrides", [
    ["compress=prune_structured", "compress.options.ratio=0.25"],
    ["compress=prune_structured", "compress.options.distill_teacher=source"],
    ["compress=ptq", "compress.activation.calibrator=entropy",
     "+compress.overrides={stages.0.*:{activation_calibrator:minmax,weight_bits:8}}"],
])
def test_readme_commands_compose_and_validate(overrides):
    from experiments.compress_methods import validate_compress

    cfg = _cfg(overrides)
    validate_compress(cfg)
    key, _, value = overrides[1].partition("=")
    if not key.startswith("+"):
        assert str(OmegaConf.select(cfg, key)) == value


def test_validated_options_are_typed_and_complete():
    from experiments.compress_methods import validate_compress
    from experiments.compress_methods.prune_structured import StructuredOptions

    cfg = _cfg(["compress=prune_structured", "compress.options.ratio=0.25"])
    validate_compress(cfg)
    assert OmegaConf.get_type(cfg.compress.options) is StructuredOptions
    assert cfg.compress.options.ratio == 0.25 and cfg.compress.options.importance == "l1"  # the default
    with pytest.raises(Exception, match="ratoi"):
        cfg.compress.options.ratoi = 0.5


def test_bad_bit_width_fails_before_any_work(tmp_path):
    from experiments.pipeline import run_pipeline

    cfg = _cfg([*QUICK, "compress.weight.bits=12", f"source_run={tmp_path / 'does-not-exist'}"])
    with pytest.raises(ValueError, match="compress.weight: bit width must be an integer in \\[2, 8\\], got 12"):
        run_pipeline(cfg, tmp_path / "out")
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_unknown_method_fails_before_any_work(tmp_path):
    from configs.registry import UnknownNameError
    from experiments.pipeline import run_pipeline

    cfg = _cfg([*QUICK, "compress.method=qatt"])
    with pytest.raises(UnknownNameError, match="Did you mean: qat"):
        run_pipeline(cfg, tmp_path)
    assert not (tmp_path / "config.yaml").exists() and not (tmp_path / "fp32").exists()


def test_checkpoint_not_matching_the_model_config_is_named(tmp_path):
    from experiments.pipeline import run_pipeline
    from experiments.runs import CheckpointError, RunDir

    source = RunDir(tmp_path / "train")
    train_cfg = _cfg(QUICK)
    train_cfg.model.num_classes = 4
    source.write_config(train_cfg)
    source.save_checkpoint({"model": {"features.0.conv.weight": torch.zeros(3, 3)}}, "best")
    cfg = _cfg([*QUICK, f"source_run={source.path}"])
    with pytest.raises(CheckpointError, match="does not match the model configuration"):
        run_pipeline(cfg, tmp_path / "out")
    assert not (tmp_path / "out" / "config.yaml").exists()


@pytest.mark.parametrize("option", sorted(p.stem for p in (ROOT / "configs" / "compress").glob("*.yaml")))
def test_every_compress_option_composes_and_validates(option):
    from experiments.compress_methods import COMPRESS_METHODS, validate_compress

    cfg = _cfg([f"compress={option}"])
    assert cfg.compress.method in COMPRESS_METHODS
    config = validate_compress(cfg)
    assert config.weight is not None and 2 <= config.weight.spec.bits <= 8


def test_every_method_module_is_listed_and_no_helper_is():
    import experiments.compress_methods as pkg

    listed = set(pkg.__all__)
    for path in Path(pkg.__file__).parent.glob("*.py"):
        registers = "COMPRESS_METHODS.add(" in path.read_text()
        assert (path.stem in listed) == registers, f"{path.name}: in the import list iff it registers a method"


@pytest.mark.parametrize(("experiment", "method", "swept"), [
    ("ptq_fmnist", "ptq", {"compress.weight.per_channel", "compress.activation.calibrator"}),
    ("prune_fmnist", "prune_structured", {"compress.options.ratio"}),
])
def test_results_table_experiments_compose_on_the_compress_entry_point(experiment, method, swept):
    from configs.schema import register_configs
    from experiments.compress_methods import validate_compress

    register_configs()
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("compress", overrides=[f"+experiment={experiment}"], return_hydra_config=True)
    assert cfg.compress.method == method and cfg.data.name == "fashion_mnist" and cfg.data.limit_eval == 2000
    assert set(cfg.hydra.sweeper.params) == swept
    assert cfg.hydra.sweep.dir.startswith(f"multirun/{experiment}/")
    # every job of the sweep validates: each swept value on top of the experiment file
    for key, values in cfg.hydra.sweeper.params.items():
        for value in str(values).split(","):
            with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
                job = compose("compress", overrides=[f"+experiment={experiment}", f"{key}={value}"])
            validate_compress(job)


def test_finetune_control_trains_the_fp32_model_and_reports_with_the_quantization_runs(tmp_path):
    from experiments.pipeline import run_pipeline
    from experiments.reporting.kinds import kind_of

    cfg = _cfg([*QUICK, "compress=finetune", "compress.qat.epochs=1"])
    result = run_pipeline(cfg, tmp_path).results["compress"]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["method"] == "finetune" and m["fp32_finetune_epochs"] == 1 and m["size_ratio"] == 1.0
    assert (tmp_path / "finetune" / "history.jsonl").is_file() and not (tmp_path / "model.qdq.onnx").exists()
    trained = torch.load(tmp_path / "fp32" / "checkpoints" / "last.pt", weights_only=False)["model"]
    tuned = result["model"].state_dict()
    assert any(not torch.equal(trained[k], tuned[k]) for k in trained if trained[k].is_floating_point())
    assert kind_of(m, tmp_path).name == "quantization"
