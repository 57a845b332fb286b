"""Conv with a weight (and bias) the graph computes or takes as an input: packed per run (engine/src/ops/conv.cpp)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.engine.onnx_cases import check_against_ort, graph_model

rng = np.random.default_rng(0)


def _r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("group, w_shape, attrs", [
    (1, (6, 4, 3, 3), {"pads": [1, 1, 1, 1]}),
    (1, (6, 4, 1, 1), {"strides": [2, 2]}),
    (4, (4, 1, 3, 3), {"pads": [1, 1, 1, 1]}),              # depthwise
    (2, (6, 2, 3, 3), {"dilations": [2, 2]}),
    (2, (6, 2, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
])
def test_weight_and_bias_given_at_run_time(group, w_shape, attrs, threads, tmp_path):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=group, **attrs)
    feeds = {"x": _r(2, 4, 9, 9), "w": _r(*w_shape), "b": _r(w_shape[0])}
    model = graph_model([node], feeds, {"y": TensorProto.FLOAT})
    assert check_against_ort(model, feeds, tmp_path, threads=threads) >= 1


def test_weight_computed_by_the_graph_each_run(tmp_path):
    # a weight that changes with an input (a dynamic filter): every run packs what this run computed
    nodes = [helper.make_node("Mul", ["w", "k"], ["wk"]),
             helper.make_node("Conv", ["x", "wk"], ["y"], pads=[1, 1, 1, 1])]
    for k in (0.5, -2.0):
        feeds = {"x": _r(1, 3, 8, 8), "w": _r(5, 3, 3, 3), "k": np.full((1, 1, 1, 1), k, np.float32)}
        model = graph_model(nodes, feeds, {"y": TensorProto.FLOAT})
        check_against_ort(model, feeds, tmp_path)
