"""``experiments.search`` end to end on synthetic data: engine-measured latency, every output, resume, names."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

pytest.importorskip("engine")

from configs.registry import UnknownNameError  # noqa: E402
from experiments.search import search  # noqa: E402
from nas import StorageUnreachableError  # noqa: E402

CONFIGS = str(Path(__file__).resolve().parents[2] / "configs")
QUICK = [
    "data=synthetic", "data.options.num_samples=96", "data.options.num_classes=4", "data.image_size=16",
    "data.batch_size=32", "data.augment.hflip=false", "data.augment.random_crop_padding=0",
    "nas.space=mbconv", "+nas.space_options.stage_channels=[16,24]", "+nas.space_options.stage_strides=[2,2]",
    "+nas.space_options.stage_hswish=[false,true]", "+nas.space_options.depths=[1,2]",
    "+nas.space_options.kernels=[3,5]", "+nas.space_options.expands=[2,3]", "nas.space_options.widths=[0.5]",
    "nas.space_options.resolutions=[16]", "+nas.space_options.head_hidden=32", "+nas.space_options.head_expand=2",
    "+nas.strategy_options.population=2", "nas.trials=3", "nas.proxy.epochs=1",
    "nas.proxy.limit_train=64", "nas.proxy.limit_eval=32", "nas.proxy.pruner=none",
    "nas.latency.min_runs=3", "nas.latency.min_time_s=0", "train.seed=0",
]


def cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(config_name="search", overrides=[*QUICK, *overrides])


def test_search_writes_every_output_and_resumes(tmp_path, capsys):
    summary = search(cfg("nas.baselines=[mobilenetv3_small@0.25]"), tmp_path)
    out = capsys.readouterr().out
    assert "Spearman rho" in out and "MACs" in out
    for name in ("study.db", "pareto.json", "pareto.csv", "candidates.csv", "pareto.png", "hypervolume.png",
                 "latency_vs_flops.png", "report.html", "baselines.json", "search.json", "config.yaml"):
        assert (tmp_path / name).is_file(), name
    pareto = json.loads((tmp_path / "pareto.json").read_text())
    assert pareto["candidates"] == 3 and pareto["front"]
    for row in pareto["front"]:
        assert row["latency_ms"] > 0 and row["arena_bytes"] > 0 and 0 <= row["val_top1"] <= 100
        assert (tmp_path / row["exported"]["slm"]).is_file() and row["exported"]["trained"]
    assert set(summary["spearman"]) >= {"rho_macs_latency", "rho_params_latency", "n"}
    assert summary["baselines"][0]["latency_ms"] > 0
    assert "mobilenetv3_small@0.25" in (tmp_path / "report.html").read_text()
    (comparison,) = summary["comparison"]
    assert comparison["baseline"] == "mobilenetv3_small@0.25"
    assert "equal engine latency" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "comparison.csv").read_text().startswith("baseline,")

    # the same command on the same directory continues the study (one study, 4 candidates in all)
    search(cfg("nas.trials=4", "nas.baselines=[mobilenetv3_small@0.25]"), tmp_path)
    with sqlite3.connect(tmp_path / "study.db") as db:
        assert db.execute("select count(*) from studies").fetchone()[0] == 1
        assert db.execute("select count(*) from trials where state='COMPLETE'").fetchone()[0] == 4


@pytest.mark.parametrize("override, error, names", [
    ("nas.space=mbconvv", UnknownNameError, ["mbconv", "mobilevit", "shufflenet"]),
    ("nas.strategy=evolve", UnknownNameError, ["evolution", "gp", "nsga2", "random", "tpe"]),
    ("nas.objectives=[accuracy,speed]", UnknownNameError, ["latency", "memory", "size"]),
    ("nas.storage=postgresql://nobody@127.0.0.1:9/none", StorageUnreachableError, ["postgresql://"]),
])
def test_bad_input_fails_before_training(tmp_path, override, error, names):
    with pytest.raises(error) as err:
        search(cfg(override), tmp_path)
    assert all(n in str(err.value) for n in names)
    assert not (tmp_path / "trials").exists()


def test_unmeetable_constraint_exits_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        search(cfg("nas.constraints=['latency<=0.000001']", "nas.stop_if_infeasible_after=2"), tmp_path)
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert "'latency<=0.000001'" in err and "best latency_ms seen" in err


@pytest.mark.parametrize("batches, tracked", [(1, 1), (0, 3)])
def test_proxy_recalibrates_batchnorm_before_validation(tmp_path, batches, tracked):
    # 96 training samples in batches of 32: three training steps, then `batches` recalibration batches
    search(cfg("nas.trials=1", "nas.baselines=[]", "nas.proxy.limit_train=96",
               f"nas.proxy.bn_recalibration_batches={batches}"), tmp_path)
    (trial,) = sorted((tmp_path / "trials").iterdir())
    state = torch.load(trial / "checkpoints" / "best.pt", weights_only=False)["model"]
    counts = {int(v) for k, v in state.items() if k.endswith("num_batches_tracked")}
    assert counts == {tracked}
