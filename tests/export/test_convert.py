"""export.convert end to end: support check, CLI, report, torchvision mobilenet_v2."""

from __future__ import annotations

import io
import sys
import types
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from export import UnsupportedOpsError, load_engine_file_summary
from export import convert_model as convert
from export.convert import main
from export.converter import prepare_graph
from tests.export.helpers import assert_same, init, make_model, tensor_in


class _Everything(dict):
    """A support matrix that accepts any op with float32/int64 data."""

    def __contains__(self, op: object) -> bool:
        return True

    def __getitem__(self, op: str) -> list[str]:
        return ["float32", "int64"]


def _small_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv0"),
        helper.make_node("Relu", ["c"], ["r"], name="relu0"),
        helper.make_node("Erf", ["r"], ["e1"], name="erf_a"),
        helper.make_node("Erf", ["e1"], ["e2"], name="erf_b"),
        helper.make_node("Cos", ["e2"], ["e3"], name="cos_a"),
        helper.make_node("Cast", ["e3"], ["h"], to=onnx.TensorProto.FLOAT16, name="to_half"),
        helper.make_node("Abs", ["h"], ["y"], name="abs_half"),
    ]
    return make_model(nodes, [tensor_in("x", [1, 2, 4, 4])], [tensor_in("y", [1, 3, 4, 4], onnx.TensorProto.FLOAT16)],
                      [init("w", np.ones((3, 2, 1, 1), np.float32))])


def test_unsupported_ops_error_lists_every_op_node_and_dtype(tmp_path):
    supported = {"Conv": ["float32"], "Cast": ["float32"], "Abs": ["float32"]}
    with pytest.raises(UnsupportedOpsError) as err:
        convert(_small_model(), tmp_path / "m.slm", supported_ops=supported)
    msg = str(err.value)
    assert "op Erf (2 nodes): erf_a, erf_b" in msg and "op Cos (1 node): cos_a" in msg
    assert "op Abs with dtype float16" in msg and "abs_half" in msg
    assert "Relu" not in msg, "Relu was fused into the Conv and must not be reported"
    assert not (tmp_path / "m.slm").exists()


def test_cli_report_uses_engine_support_matrix(tmp_path, monkeypatch, capsys):
    src = tmp_path / "m.onnx"
    model = make_model(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
        [tensor_in("x", [1, 2, 4, 4])], [tensor_in("y", [1, 3, 4, 4])], [init("w", np.ones((3, 2, 1, 1), np.float32))])
    onnx.save(model, src)
    fake = types.ModuleType("engine")
    fake.supported_ops = lambda: {"Conv": ["float32"]}
    monkeypatch.setitem(sys.modules, "engine", fake)
    assert main([str(src), "-o", str(tmp_path / "m.slm"), "--report", "--weights", "fp16"]) == 0
    out = capsys.readouterr().out
    assert "pass activation_fusion: Relu into Conv 1" in out
    assert [ln.split() for ln in out.splitlines() if ln.startswith("Relu")] == [["Relu", "1", "0"]]
    assert load_engine_file_summary(tmp_path / "m.slm").flags & 1


def test_cli_without_engine_module_fails_clearly(tmp_path, monkeypatch, capsys):
    src = tmp_path / "m.onnx"
    onnx.save(_small_model(), src)
    monkeypatch.setitem(sys.modules, "engine", types.ModuleType("engine"))  # package without the binding
    assert main([str(src), "-o", str(tmp_path / "m.slm")]) == 1
    assert "engine's Python module is not built" in capsys.readouterr().err
    # a missing model is bad input (2), a missing engine build the environment's fault (1)
    assert main([str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "m.slm")]) == 2
    assert "missing.onnx: no such file" in capsys.readouterr().err


def test_no_optimize_keeps_the_graph(tmp_path):
    supported = {op: ["float32"] for op in ("Conv", "Relu", "Erf", "Cos", "Cast")} | {"Abs": ["float16"]}
    report = convert(_small_model(), tmp_path / "m.slm", optimize=False, supported_ops=supported)
    assert report.ops_after == report.ops_before and report.passes == []
    assert load_engine_file_summary(report.output).op_counts()["Relu"] == 1


def _mobilenet_onnx() -> onnx.ModelProto:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    for m in model.modules():  # non-trivial statistics so that BN folding is really exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    buf = io.BytesIO()
    # PRESERVE keeps BatchNormalization nodes (eval mode would let torch fold them itself)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript-exporter deprecation and PRESERVE+folding notes
        torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), buf, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return onnx.load_from_string(buf.getvalue())


@pytest.mark.slow
def test_mobilenet_v2_end_to_end(tmp_path):
    torch.set_num_threads(1)
    source = _mobilenet_onnx()
    assert source.graph.node and any(n.op_type == "BatchNormalization" for n in source.graph.node)
    report = convert(source, tmp_path / "mb.slm", supported_ops=_Everything())
    before, after = report.ops_before, report.ops_after
    assert before["BatchNormalization"] == 52 and before["Clip"] == 35
    assert after["BatchNormalization"] == 0 and after["Clip"] == 0 and after["Identity"] == 0
    assert after["Conv"] == 52 and sum(after.values()) < sum(before.values())
    summary = load_engine_file_summary(report.output)
    assert summary.op_counts() == {k: v for k, v in after.items() if v}
    assert sum(n.attrs.get("activation") == "Clip" for n in summary.nodes) == 35

    graph = prepare_graph(source).graph
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert_same(source, graph, {"input": x}, atol=1e-4)


def test_older_opset_is_upgraded_before_the_passes(tmp_path):
    # opset 10: Clip bounds are attributes and Unsqueeze axes an attribute; both change by opset 17
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Clip", ["c"], ["r"], min=0.0, max=6.0),
        helper.make_node("Unsqueeze", ["r"], ["y"], axes=[0]),
    ]
    model = make_model(nodes, [tensor_in("x", [1, 2, 3, 3])], [tensor_in("y", [1, 1, 3, 3, 3])],
                       [init("w", np.random.default_rng(3).standard_normal((3, 2, 1, 1)).astype(np.float32))],
                       opset=10)
    report = convert(model, tmp_path / "m.slm", supported_ops=_Everything())
    assert report.opset == "10 -> 17" and report.ops_after == {"Conv": 1, "Unsqueeze": 1}
    prepared = prepare_graph(model)
    assert prepared.graph.nodes[0].attrs["activation_params"] == [0.0, 6.0]
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 3)).astype(np.float32) * 5
    assert_same(model, prepared.graph, {"x": x})


class _ChannelShuffle(torch.nn.Module):
    """ShuffleNet's shuffle written with x.size(): a Shape chain per view on a dynamic batch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    @staticmethod
    def shuffle(x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.size()
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous()
        return x.view(b, -1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the second shuffle reads the shape of the first one's output, unknown until it is folded
        return self.shuffle(self.shuffle(torch.relu(self.conv(x)))).flatten(1)


def test_shape_chains_of_a_dynamic_batch_model_disappear(tmp_path):
    from export import to_onnx

    torch.manual_seed(0)
    path = to_onnx(_ChannelShuffle(), torch.randn(2, 3, 6, 6), tmp_path / "shuffle.onnx")
    source = onnx.load(path)
    assert any(n.op_type == "Shape" for n in source.graph.node)
    prepared = prepare_graph(source)
    ops = prepared.graph.op_counts()
    # the second shuffle's chain only becomes foldable after shapes are re-inferred; then each
    # shuffle (its targets now constant) is one channel Gather
    assert not {"Shape", "Div", "Cast", "Unsqueeze", "Concat"} & set(ops), ops
    assert ops["Gather"] == 2 and ops["Conv"] == 1, ops
    gathers = [n for n in prepared.graph.nodes if n.op_type == "Gather"]
    assert all(n.attrs["axis"] == 1 and prepared.graph.const(n.inputs[1]) is not None for n in gathers)
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 6, 6)).astype(np.float32)
        assert_same(source, prepared.graph, {"input": x})


def test_cli_module_import_does_not_shadow_the_api():
    import importlib

    import export

    importlib.import_module("export.convert")
    assert callable(export.convert_model)
