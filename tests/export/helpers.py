"""Test helpers: build small ONNX graphs, run them with onnxruntime, and expand the
engine-only fused attributes/ops back into plain ONNX so onnxruntime can check them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from export import ir
from export.passes import run_pipeline

F32 = TensorProto.FLOAT


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def tensor_in(name: str, shape: Sequence, dtype: int = F32) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, list(shape))


def init(name: str, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def optimize(model: onnx.ModelProto, passes: Sequence[str] | None = None):
    """Shape-infer, import, run passes; returns (graph, results)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    graph = ir.from_onnx(inferred)
    results = run_pipeline(graph, passes)
    return graph, {r.name: r for r in results}


# ---- unfuse: engine additions -> plain ONNX ----------------------------------------------------
class _Builder:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"__unfuse_{base}_{self.count}"

    def const(self, value: float) -> str:
        n = self.name("c")
        self.model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.float32), n))
        return n


def _expand(b: _Builder, act: str, params: list[float], x: str, y: str) -> list[onnx.NodeProto]:
    """Plain ONNX nodes computing y = act(x) (opset 17)."""
    if act in ("Relu", "HardSwish", "Sigmoid", "Tanh"):
        return [helper.make_node(act, [x], [y])]
    if act == "Clip":
        return [helper.make_node("Clip", [x, b.const(params[0]), b.const(params[1])], [y])]
    if act == "LeakyRelu":
        return [helper.make_node("LeakyRelu", [x], [y], alpha=params[0])]
    if act == "HardSigmoid":
        return [helper.make_node("HardSigmoid", [x], [y], alpha=params[0], beta=params[1])]
    if act == "SiLU":
        s = b.name("sig")
        return [helper.make_node("Sigmoid", [x], [s]), helper.make_node("Mul", [x, s], [y])]
    if act == "Gelu":
        d, e, a, m = (b.name(k) for k in "deam")
        return [
            helper.make_node("Div", [x, b.const(math.sqrt(2.0))], [d]),
            helper.make_node("Erf", [d], [e]),
            helper.make_node("Add", [e, b.const(1.0)], [a]),
            helper.make_node("Mul", [x, a], [m]),
            helper.make_node("Mul", [m, b.const(0.5)], [y]),
        ]
    raise AssertionError(f"unfuse: unknown activation {act}")


def unfuse(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` where `activation` attributes and SiLU/Gelu/MatMulSoftmaxMatMul nodes are plain ONNX."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    b = _Builder(out)
    new_nodes = []
    for node in out.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv" and len(node.input) > 3:  # the engine's channel scale: Mul before the Conv
            gated = b.name("gated")
            new_nodes.append(helper.make_node("Mul", [node.input[0], node.input[3]], [gated]))
            node.input[0] = gated
            del node.input[3:]
            if not node.input[2]:
                del node.input[2:]
        if node.op_type == "MatMulSoftmaxMatMul":
            s, p = b.name("scores"), b.name("probs")
            new_nodes += [helper.make_node("MatMul", list(node.input[:2]), [s]),
                          helper.make_node("Softmax", [s], [p], axis=-1),
                          helper.make_node("MatMul", [p, node.input[2]], [node.output[0]])]
            continue
        if node.op_type in ("SiLU", "Gelu"):
            assert attrs.get("approximate", b"none") in (b"none", "none")
            new_nodes += _expand(b, node.op_type, [], node.input[0], node.output[0])
            continue
        if "activation" not in attrs:
            new_nodes.append(node)
            continue
        act = attrs["activation"].decode()
        params = list(attrs.get("activation_params", []))
        keep = [a for a in node.attribute if a.name not in ("activation", "activation_params")]
        del node.attribute[:]
        node.attribute.extend(keep)
        final = node.output[0]
        pre = b.name("pre")
        node.output[0] = pre
        new_nodes += [node, *_expand(b, act, params, pre, final)]
    del out.graph.node[:]
    out.graph.node.extend(new_nodes)
    # value_info of the pre-activation values is unknown now; let onnxruntime infer it
    del out.graph.value_info[:]
    onnx.checker.check_model(out)
    return out


def run_graph(graph: ir.Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run an optimized IR graph through onnxruntime via the unfuse helper."""
    return run(unfuse(ir.to_onnx_model(graph)), feeds)


def assert_same(before: onnx.ModelProto, graph: ir.Graph, feeds: dict[str, np.ndarray], atol: float = 1e-5):
    ref = run(before, feeds)
    got = run_graph(graph, feeds)
    assert len(ref) == len(got)
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=atol)
