"""Inputs whose sizes change between calls on one Session, several inputs and outputs of different ranks:
real torch exports (torch.export with symbolic dims, the newest exporter) against ONNX Runtime.

The engine re-plans for every new input-shape signature and keeps the last few plans (core/session.cpp), so
a size seen before runs without planning again; these tests go back to an earlier size to cover that path.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine
from export.converter import convert
from export.engine_file import load_engine_file_summary

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")


class TinyEncoder(torch.nn.Module):
    """Two inputs of different ranks, two outputs: a pooled head (rank 2) and the sequence (rank 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(16, 32)
        layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = torch.nn.Linear(32, 5)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.embed(x))
        return self.head(h.mean(1)) * scale, h


class TinyConvNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, stride=2, padding=1),
            torch.nn.ReLU(), torch.nn.Upsample(scale_factor=2.0, mode="nearest"), torch.nn.Conv2d(8, 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _export(model: torch.nn.Module, args: tuple, dynamic: dict, path, names: tuple[list[str], list[str]]) -> None:
    torch.manual_seed(0)
    torch.onnx.export(model.eval(), args, path, input_names=names[0], output_names=names[1],
                      dynamic_shapes=dynamic, opset_version=18, dynamo=True, external_data=False, verbose=False)


def _check(onnx_path, slm_path, feeds_list: list[dict[str, np.ndarray]]) -> None:
    ref = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for threads in (1, 2):
        session = engine.Session(slm_path, threads=threads)  # one session for every size
        for feeds in feeds_list:
            got, want = session.run(None, feeds), ref.run(None, feeds)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert g.shape == w.shape
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_transformer_with_a_run_time_sequence_length(tmp_path):
    torch.manual_seed(0)
    model = TinyEncoder()
    seq = torch.export.Dim("seq", min=2, max=512)
    _export(model, (torch.randn(1, 7, 16), torch.ones(1, 5)), {"x": {1: seq}, "scale": None},
            tmp_path / "enc.onnx", (["x", "scale"], ["logits", "hidden"]))
    convert(tmp_path / "enc.onnx", tmp_path / "enc.slm")
    summary = load_engine_file_summary(tmp_path / "enc.slm")
    x = summary.tensors[summary.inputs[0]]
    assert x.shape[1] == -1 and x.dim_names[1] != "", "the sequence dim is symbolic in the file"
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.standard_normal((1, n, 16)).astype(np.float32),
              "scale": rng.random((1, 5)).astype(np.float32)} for n in (5, 12, 1 + 30, 5)]
    _check(tmp_path / "enc.onnx", tmp_path / "enc.slm", feeds)


def test_cnn_with_run_time_height_and_width(tmp_path):
    h, w = torch.export.Dim("h", min=8, max=1024), torch.export.Dim("w", min=8, max=1024)
    _export(TinyConvNet(), (torch.randn(1, 3, 32, 32),), {"x": {2: 2 * h, 3: 2 * w}}, tmp_path / "cnn.onnx",
            (["x"], ["y"]))
    convert(tmp_path / "cnn.onnx", tmp_path / "cnn.slm")
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.standard_normal((1, 3, hh, ww)).astype(np.float32)}
             for hh, ww in ((32, 32), (48, 80), (16, 200), (32, 32))]
    _check(tmp_path / "cnn.onnx", tmp_path / "cnn.slm", feeds)


def test_shapes_computed_from_data_at_run_time(tmp_path):
    # The length comes from the values of a float input (ReduceMax -> Cast): nothing at plan time knows it,
    # so Range, ConstantOfShape and Expand make dynamic outputs and what follows is planned per run
    from onnx import TensorProto, helper

    from tests.engine.onnx_cases import graph_model

    nodes = [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
             helper.make_node("Cast", ["m"], ["n"], to=TensorProto.INT64),
             helper.make_node("Range", ["zero", "n", "one"], ["r"]),
             helper.make_node("Unsqueeze", ["n", "axis0"], ["n1"]),
             helper.make_node("ConstantOfShape", ["n1"], ["c"],
                              value=helper.make_tensor("v", TensorProto.INT64, [1], [3])),
             helper.make_node("Add", ["r", "c"], ["rc"]),
             helper.make_node("Concat", ["two", "n1"], ["shape"], axis=0),
             helper.make_node("Expand", ["rc", "shape"], ["y"])]
    inits = {"zero": np.asarray(0, np.int64), "one": np.asarray(1, np.int64), "axis0": np.asarray([0], np.int64),
             "two": np.asarray([2], np.int64)}
    x0 = np.asarray([1.0, 4.2, 2.0], np.float32)
    model = graph_model(nodes, {"x": x0}, {"y": TensorProto.INT64}, inits)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.INT64, [2, None]))
    convert(model, tmp_path / "dyn.slm", optimize=False)
    for threads in (1, 2):
        s = engine.Session(tmp_path / "dyn.slm", threads=threads)
        for top in (4.2, 9.0, 0.0, 6.5):
            x = np.asarray([1.0, top, 0.0], np.float32)
            (y,) = s.run(None, {"x": x})
            n = int(max(x))
            np.testing.assert_array_equal(y, np.broadcast_to(np.arange(n) + 3, (2, n)))


def test_nonzero_selects_detections_whose_count_only_the_data_knows(tmp_path):
    # the detection post-process pattern: keep the boxes whose score passes a threshold
    from onnx import TensorProto, helper

    from tests.engine.onnx_cases import graph_model, ort_run

    nodes = [helper.make_node("Greater", ["scores", "thr"], ["keep"]),
             helper.make_node("NonZero", ["keep"], ["idx"]),
             helper.make_node("Squeeze", ["idx", "axis0"], ["flat"]),
             helper.make_node("Gather", ["boxes", "flat"], ["kept"], axis=0),
             helper.make_node("NonZero", ["grid"], ["where2d"])]
    rng = np.random.default_rng(3)
    feeds = {"scores": rng.random(50).astype(np.float32), "boxes": rng.random((50, 4)).astype(np.float32),
             "grid": (rng.random((3, 5)) > 0.5).astype(np.float32)}
    inits = {"thr": np.asarray(0.7, np.float32), "axis0": np.asarray([0], np.int64)}
    model = graph_model(nodes, feeds, {"kept": TensorProto.FLOAT, "where2d": TensorProto.INT64}, inits)
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("kept", TensorProto.FLOAT, [None, 4]))
    model.graph.output[1].CopyFrom(helper.make_tensor_value_info("where2d", TensorProto.INT64, [2, None]))
    convert(model, tmp_path / "nz.slm", optimize=False)
    for threads in (1, 2):
        s = engine.Session(tmp_path / "nz.slm", threads=threads)
        for trial in range(4):
            feeds = {"scores": rng.random(50).astype(np.float32) ** (trial + 1),
                     "boxes": rng.random((50, 4)).astype(np.float32),
                     "grid": (rng.random((3, 5)) > 0.5).astype(np.float32)}
            got, want = s.run(None, feeds), ort_run(model, feeds)
            for g, w in zip(got, want):
                assert g.shape == w.shape
                np.testing.assert_array_equal(g, w)
