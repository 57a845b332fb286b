"""measure.peak_fraction: FLOPs per op class from the engine file, and the measured FMA peak."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import engine
from export.converter import convert
from export.engine_file import load_engine_file_summary
from measure.peak_fraction import main, measure, node_flops


def _model(tmp_path):
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 8, 1, 1)).astype(np.float32)
    w3 = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    fc = rng.standard_normal((16, 10)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"]),
             helper.make_node("Conv", ["a", "w3"], ["b"], group=16, pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["b"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "fc"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(v, k) for k, v in {"w1": w1, "w3": w3, "fc": fc}.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.slm"
    convert(model, path, optimize=False)
    return path


def test_flops_per_class_follow_the_shapes(tmp_path):
    summary = load_engine_file_summary(_model(tmp_path))
    got = {n.op_type + str(n.attrs.get("group", "")): node_flops(summary, i) for i, n in enumerate(summary.nodes)}
    assert got["Conv"] == ("1x1 conv", 2.0 * 12 * 12 * 16 * 8)
    assert got["Conv16"] == ("depthwise conv", 2.0 * 12 * 12 * 16 * 9)
    assert got["MatMul"] == ("GEMM/MatMul", 2.0 * 10 * 16)
    assert got["GlobalAveragePool"] == ("elementwise", 16.0)


def test_report_shares_are_of_the_measured_peak(tmp_path, capsys):
    figures, e2e, ms, peak = measure(_model(tmp_path), threads=1, runs=5)
    assert peak > 1.0 and ms > 0 and 0 < e2e < peak
    assert {f.name for f in figures} >= {"1x1 conv", "depthwise conv", "GEMM/MatMul"}
    assert all(f.gflops >= 0 for f in figures)
    assert main([str(tmp_path / "m.slm"), "--threads", "1", "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "FMA peak" in out and "| 1x1 conv | 1 |" in out
    assert main([str(tmp_path / "missing.slm")]) == 2


def test_fma_peak_is_measured_at_the_cpu_isa_and_checks_its_arguments():
    p = engine.measure_fma_peak(1, seconds=0.05)
    assert p.isa == engine.available_isas()[-1] and p.threads == 1 and p.gflops > 1.0
    with pytest.raises(engine.EngineError, match="threads"):
        engine.measure_fma_peak(0)
    with pytest.raises(engine.EngineError, match="seconds"):
        engine.measure_fma_peak(1, seconds=0)
