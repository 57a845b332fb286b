"""``python -m experiments.report``: one table over fake run directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.report import collect_rows, main


def _fake_run(root: Path, sub: str, model: str, top1: float, **overrides) -> Path:
    run = root / sub
    run.mkdir(parents=True)
    metrics = {
        "model": model,
        "data": "fashion_mnist",
        "test_top1": top1,
        "test_top5": 99.0,
        "params": 1_234_567,
        "macs": 45_600_000,
        "peak_activation_bytes": 200_704,
        "epochs": 2,
        "train_time_s": 123.4,
        **overrides,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "config.yaml").write_text(f"model:\n  name: {model}\n")
    return run


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    _fake_run(tmp_path, "2_squeezenet1_1", "squeezenet1_1", 88.5)
    _fake_run(tmp_path, "0_mobilenetv2", "mobilenetv2", 90.25, params=2_236_682)
    _fake_run(tmp_path, "nested/1_ghostnet", "ghostnet", 89.0)
    (tmp_path / "3_failed").mkdir()  # a job that died before writing metrics
    return tmp_path


def test_rows_are_one_per_run_sorted_by_model(sweep):
    rows = collect_rows(sweep)
    assert [r.model for r in rows] == ["ghostnet", "mobilenetv2", "squeezenet1_1"]
    assert rows[0].run == "nested/1_ghostnet"
    assert rows[1].params == 2_236_682 and rows[1].test_top1 == 90.25


def test_writes_markdown_and_json(sweep, tmp_path, capsys):
    out = tmp_path / "tables" / "zoo.md"
    assert main([str(sweep), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| model | data | params (M) | MACs (M) | peak act. (KiB)")
    assert len(lines) == 2 + 3
    assert lines[3].startswith("| mobilenetv2 | fashion_mnist | 2.237 | 45.60 | 196.0 | 90.25 | 123.4 |")
    data = json.loads(out.with_suffix(".json").read_text())
    assert [d["model"] for d in data] == ["ghostnet", "mobilenetv2", "squeezenet1_1"]
    assert data[1]["peak_activation_bytes"] == 200_704
    assert "mobilenetv2" in capsys.readouterr().out


def test_default_output_lands_in_the_scanned_directory(sweep):
    assert main([str(sweep)]) == 0
    assert (sweep / "zoo_table.md").is_file() and (sweep / "zoo_table.json").is_file()


def test_missing_keys_name_the_file_and_key(tmp_path, capsys):
    run = _fake_run(tmp_path, "0_x", "x", 50.0)
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["macs"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "0_x/metrics.json" in err and "macs" in err


def test_corrupt_metrics_name_the_file(tmp_path, capsys):
    run = _fake_run(tmp_path, "0_x", "x", 50.0)
    (run / "metrics.json").write_text("{not json")
    assert main([str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_no_runs_or_no_directory_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert main([str(tmp_path / "absent")]) == 2
    assert "is not a directory" in capsys.readouterr().err


# --- the zoo_fmnist experiment whose runs the report tabulates ---------------------------------

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from configs.schema import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("default", overrides=overrides, return_hydra_config=True)


def _swept_families(cfg) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (override,) = OverridesParser.create().parse_overrides([f"model={cfg.hydra.sweeper.params.model}"])
    return list(override.sweep_string_iterator())


def test_zoo_fmnist_is_a_short_fashion_mnist_sweep_in_one_directory():
    cfg = _compose(["+experiment=zoo_fmnist"])
    assert cfg.name == "zoo_fmnist" and cfg.data.name == "fashion_mnist"
    assert cfg.train.epochs == 2 and cfg.data.limit_train >= 4096  # short, but past BN warm-up
    assert cfg.hydra.sweep.dir.startswith("multirun/zoo_fmnist/")
    families = _swept_families(cfg)
    assert len(families) == len(set(families)) == 12


def test_every_swept_family_builds_and_runs_at_its_fashion_mnist_geometry():
    import torch

    from experiments.models import build_model

    torch.set_num_threads(1)
    families = _swept_families(_compose(["+experiment=zoo_fmnist"]))
    missing = [f for f in families if not (CONFIG_DIR / "model" / f"{f}.yaml").is_file()]
    assert not missing, f"swept families without configs/model/<family>.yaml: {missing}"
    for family in families:
        model_cfg = _compose(["+experiment=zoo_fmnist", f"model={family}"]).model
        model = build_model(model_cfg, num_classes=10).eval()
        size = model_cfg.input_size
        with torch.no_grad():
            out = model(torch.randn(1, model_cfg.in_chans, size, size))
        assert out.shape == (1, 10), family
