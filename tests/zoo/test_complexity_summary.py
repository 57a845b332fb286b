"""The ``python -m lightweight_models.summary`` command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lightweight_models import create_model
from lightweight_models.complexity import profile
from lightweight_models.summary import main


def test_prints_totals_and_both_tables_and_writes_json(tmp_path, capsys):
    out_file = tmp_path / "report.json"
    assert main(["simple_cnn", "--input", "1x16x16", "--num-classes", "7", "--json", str(out_file)]) == 0
    text = capsys.readouterr().out
    for needle in ("params", "MACs", "peak activation memory", "blocks", "layers", "features.0.conv"):
        assert needle in text
    data = json.loads(out_file.read_text())
    expected = profile(create_model("simple_cnn", in_chans=1, num_classes=7, small_input=False), (1, 1, 16, 16))
    assert data["name"] == "simple_cnn"
    assert (data["params"], data["macs"]) == (expected.params, expected.macs)
    assert data["input_shape"] == [1, 1, 16, 16]
    assert f"{expected.params:,}" in text


def test_default_input_is_three_channels_at_the_models_default_size(tmp_path):
    out_file = tmp_path / "r.json"
    assert main(["simple_cnn", "--small-input", "--depth", "1", "--json", str(out_file)]) == 0
    data = json.loads(out_file.read_text())
    assert data["input_shape"] == [1, 3, 28, 28]  # simple_cnn registers default_input=28
    assert [b["name"] for b in data["blocks"]] == ["features", "pool", "drop", "classifier"]


def test_unknown_model_prints_closest_names_and_exits_2(capsys):
    assert main(["simple_cn"]) == 2
    err = capsys.readouterr().err
    assert "Unknown model 'simple_cn'" in err and "simple_cnn" in err


def test_input_smaller_than_total_stride_exits_2(capsys):
    # without --small-input simple_cnn has total stride 8
    assert main(["simple_cnn", "--input", "3x4x4"]) == 2
    assert "input_size" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["3x224", "axbxc", "0x8x8"])
def test_malformed_input_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simple_cnn", "--input", bad])
    assert exc.value.code == 2
    assert "CxHxW" in capsys.readouterr().err


def test_runs_as_a_module():
    proc = subprocess.run(
        [sys.executable, "-m", "lightweight_models.summary", "no_such_model"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Unknown model 'no_such_model'" in proc.stderr
