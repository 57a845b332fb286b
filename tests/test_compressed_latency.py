"""``python -m experiments.compressed_latency``: rebuilds compress runs and times them against
their uncompressed architecture on the engine and ONNX Runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import compressed_latency

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["data=synthetic", "data.options.num_samples=160", "train.epochs=1", "train.max_steps_per_epoch=2"]


def _compress(run_dir: Path, args: list[str]) -> None:
    env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "experiments.compress", *QUICK, *args, f"hydra.run.dir={run_dir}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("latency")
    structured, unstructured, ptq = base / "structured", base / "unstructured", base / "ptq"
    _compress(structured, ["compress=prune_structured", "compress.options.ratio=0.5",
                           "compress.options.finetune_epochs=1", "compress.options.measure_latency=false"])
    _compress(unstructured, ["compress=prune_unstructured", "compress.options.sparsity=0.5",
                             "compress.options.finetune_epochs=1"])
    _compress(ptq, ["compress=ptq"])
    return {"structured": structured, "unstructured": unstructured, "ptq": ptq}


def test_pruned_runs_are_rebuilt_and_timed(runs, tmp_path):
    out = tmp_path / "latency.md"
    rows = compressed_latency.main([str(runs["structured"]), str(runs["unstructured"]), "--rounds", "2",
                                    "--iterations", "3", "--out", str(out)])
    structured, unstructured = rows
    # the MAC counts come from the rebuilt models, so they must agree with what the runs recorded
    metrics = json.loads((runs["structured"] / "metrics.json").read_text())
    assert (structured.macs_before, structured.macs_after) == (metrics["macs_before"], metrics["macs_after"])
    assert structured.mac_reduction > 1.5 and structured.setting == "ratio=0.5"
    # zeros in dense weights remove no MACs
    assert unstructured.macs_before == unstructured.macs_after and unstructured.setting == "sparsity=0.5"
    for row in rows:
        assert row.slimlab_ms_before > 0 and row.slimlab_ms_after > 0 and row.onnxruntime_speedup > 0
    assert "MAC reduction" in out.read_text() and len(json.loads(out.with_suffix(".json").read_text())) == 2


def test_a_quantized_run_is_timed_in_integers_on_the_engine(runs, tmp_path):
    (row,) = compressed_latency.main([str(runs["ptq"]), "--rounds", "2", "--iterations", "3", "--threads", "1",
                                      "--out", str(tmp_path / "latency.md")])
    assert row.precision_after == "int8"
    # int8 weights: the engine file shrinks about 4x (its graph and int32 biases keep it above 1/4)
    assert 2.5 < row.slm_bytes_before / row.slm_bytes_after <= 4.0
    assert row.macs_before == row.macs_after and row.slimlab_ms_after > 0 and row.onnxruntime_speedup > 0
    assert "| int8 |" in (tmp_path / "latency.md").read_text()


def test_a_directory_that_is_not_a_compress_run_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        compressed_latency.main([str(tmp_path)])
    assert "not a finished compress run" in capsys.readouterr().err
