"""Helpers shared by the engine op tests: tiny ONNX graphs converted with
``export.convert_model`` and run in the engine and in ONNX Runtime."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import engine
import export

OPSET = 17
_counter = itertools.count()

ONNX_TYPES = {
    np.dtype("float32"): TensorProto.FLOAT,
    np.dtype("int64"): TensorProto.INT64,
    np.dtype("int32"): TensorProto.INT32,
    np.dtype("bool"): TensorProto.BOOL,
}


def graph_model(
    nodes: Sequence[onnx.NodeProto],
    feeds: dict[str, np.ndarray],
    outputs: dict[str, int],
    initializers: dict[str, np.ndarray] | None = None,
    opset: int = OPSET,
) -> onnx.ModelProto:
    """A model over `nodes`: graph inputs from `feeds`, outputs name -> TensorProto type (shape inferred)."""
    inputs = [helper.make_tensor_value_info(k, ONNX_TYPES[v.dtype], list(v.shape)) for k, v in feeds.items()]
    outs = [helper.make_tensor_value_info(k, t, None) for k, t in outputs.items()]
    inits = [numpy_helper.from_array(v, k) for k, v in (initializers or {}).items()]
    graph = helper.make_graph(list(nodes), f"g{next(_counter)}", inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    # Output shapes come from ONNX's own inference: the checker wants them and the cases stay short.
    return onnx.shape_inference.infer_shapes(model)


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def convert_model(model: onnx.ModelProto, tmp: Path, optimize: bool = False) -> Path:
    path = tmp / f"m{next(_counter)}.slm"
    export.convert_model(model, path, optimize=optimize)
    return path


def check_against_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp: Path, *, optimize: bool = False,
                      rtol: float = 1e-4, atol: float = 1e-5, threads: int = 2) -> int:
    """Runs the model in ORT and in the engine at every ISA; asserts they agree. Returns ISAs checked."""
    expected = ort_run(model, feeds)
    path = convert_model(model, tmp, optimize)
    isas = engine.available_isas()
    for isa in isas:
        got = engine.Session(path, threads=threads, isa=isa).run(None, feeds)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape, (isa, g.shape, e.shape)
            assert g.dtype == e.dtype, (isa, g.dtype, e.dtype)
            if e.dtype.kind == "f":
                np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"isa={isa}")
            else:
                np.testing.assert_array_equal(g, e, err_msg=f"isa={isa}")
    return len(isas)
