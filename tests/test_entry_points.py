"""The Hydra entry points, run as a user would (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "data=synthetic",
    "data.options.num_samples=192",
    "train.epochs=2",
    "train.max_steps_per_epoch=3",
    "tracking=disabled",
]


def _run(module: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_train_writes_the_run_directory(tmp_path):
    # wandb offline (the default mode) needs no account or network and writes under the run directory
    args = [a for a in QUICK if not a.startswith("tracking=")] + ["tracking=offline", f"hydra.run.dir={tmp_path}"]
    proc = _run("experiments.train", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("config.yaml", "metrics.json", "history.jsonl", "summary.md", "checkpoints/last.pt"):
        assert (tmp_path / name).is_file(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == "simple_cnn" and metrics["epochs"] == 2
    assert 0 <= metrics["test_top1"] <= 100 and metrics["params"] > 0 and metrics["macs"] > 0
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert cfg["model"]["num_classes"] >= 2  # filled in from the data set, so the run can be rebuilt
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 2
    assert "test top-1" in proc.stdout and str(tmp_path) in proc.stdout
    assert list((tmp_path / "wandb").glob("offline-run-*")), "no wandb offline run was written"


def test_multirun_sweep_with_the_local_parallel_launcher(tmp_path):
    # jobs run in joblib worker processes: steps must register there too, and results must pickle
    args = ["-m", "hydra/launcher=local_parallel", *QUICK, "model.width_mult=0.5,1.0", f"hydra.sweep.dir={tmp_path}"]
    proc = _run("experiments.train", args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = sorted(tmp_path.glob("*/metrics.json"))
    assert len(metrics) == 2
    params = [json.loads(p.read_text())["params"] for p in metrics]
    assert params[0] != params[1]


def test_misspelled_override_fails_with_hydra_message(tmp_path):
    proc = _run("experiments.train", [*QUICK, "train.epochz=1", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode != 0
    assert "epochz" in proc.stderr
    assert not (tmp_path / "metrics.json").exists()
