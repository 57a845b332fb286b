"""Quantized test models and an ONNX Runtime rendering of the converter's integer ops (tests only).

The engine runs the folded graph with its own kernels (engine/QUANTIZED.md); until it does, the graph is
rendered as ONNX that ONNX Runtime runs with its own integer kernels: QLinearConv / QLinearMatMul (standard),
QGemm, QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat (com.microsoft,
the same contract), a fused activation as the integer clamp of QUANTIZED.md (a uint8 Clip), QLinearLookup as
a Gather from its table.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from export import ir
from tests.export.helpers import unfuse

MS = "com.microsoft"
_CONTRIB = {"QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat"}


def _clamp_codes(graph: ir.Graph, node: ir.Node, y_scale: str, y_zp: str) -> tuple[int, int]:
    """QUANTIZED.md: [qmin, qmax] = [0, 255] narrowed by a fused Relu / Clip."""
    s = np.float32(graph.const(y_scale).reshape(-1)[0])
    z = int(graph.const(y_zp).reshape(-1)[0])
    act = node.attr("activation")
    lo, hi = (0.0, None) if act == "Relu" else tuple(node.attr("activation_params"))
    qmin = max(0, z + int(np.rint(np.float32(lo) / s)))
    qmax = 255 if hi is None else min(255, z + int(np.rint(np.float32(hi) / s)))
    return qmin, qmax


def render(graph: ir.Graph) -> onnx.ModelProto:
    """The converted IR as an ONNX model ONNX Runtime can run (see the module docstring)."""
    model = ir.to_onnx_model(graph)
    g = model.graph
    extra: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    by_name = {n.name: n for n in graph.nodes}
    count = 0

    def const(value: np.ndarray) -> str:
        nonlocal count
        count += 1
        extra.append(numpy_helper.from_array(value, f"__render_{count}"))
        return f"__render_{count}"

    for node in g.node:
        src = by_name[node.name]
        if src.op_type == "QLinearLookup":
            idx = f"{node.output[0]}__idx"
            nodes += [helper.make_node("Cast", [node.input[0]], [idx], to=TensorProto.INT32),
                      helper.make_node("Gather", [node.input[1], idx], [node.output[0]], axis=0)]
            continue
        if src.op_type not in _CONTRIB and src.op_type not in ("QLinearConv", "QLinearMatMul"):
            nodes.append(node)
            continue
        act = src.attr("activation")
        keep = [a for a in node.attribute if a.name not in ("activation", "activation_params")]
        del node.attribute[:]
        node.attribute.extend(keep)
        if src.op_type in _CONTRIB:
            node.domain = MS
        if src.op_type in ("QLinearGlobalAveragePool", "QLinearAveragePool"):
            node.attribute.append(helper.make_attribute("channels_last", 0))
        if act is None:
            nodes.append(node)
            continue
        scale_pos = {"QLinearConv": 6, "QGemm": 7, "QLinearAdd": 6}[src.op_type]
        qmin, qmax = _clamp_codes(graph, src, src.inputs[scale_pos], src.inputs[scale_pos + 1])
        out = node.output[0]
        node.output[0] = f"{out}__unclamped"
        nodes += [node, helper.make_node("Clip", [node.output[0], const(np.uint8(qmin)), const(np.uint8(qmax))],
                                         [out])]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra)
    model.opset_import.append(helper.make_opsetid(MS, 1))
    return unfuse(model)


def session(model: onnx.ModelProto | bytes | str | Path, optimize: bool = True) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    if isinstance(data, Path):
        data = str(data)
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def run(model, feeds: dict[str, np.ndarray], optimize: bool = True) -> list[np.ndarray]:
    return session(model, optimize).run(None, feeds)


# ---- ONNX Runtime's quantize_static on torchvision models ---------------------------------------------
def randomize_bn(model) -> None:
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def export_torchvision(name: str, folder: Path, size: int = 64) -> Path:
    """A torchvision model with random weights (non-trivial BN statistics) as pre-processed ONNX, opset 17."""
    import torch
    import torchvision
    from onnxruntime.quantization.shape_inference import quant_pre_process

    path, pre = folder / f"{name}.onnx", folder / f"{name}.pre.onnx"
    if pre.exists():
        return pre
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    randomize_bn(model)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, size, size),), buf, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])
    path.write_bytes(buf.getvalue())
    quant_pre_process(str(path), str(pre))
    return pre


def calibration(size: int = 64, batches: int = 2, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, size, size)).astype(np.float32) for _ in range(batches)]


def quantize_ort(src: Path, out: Path, fmt: str = "QDQ", per_channel: bool = True, activations: str = "QUInt8",
                 weights: str = "QInt8", extra: dict | None = None, data: list[np.ndarray] | None = None) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if out.exists():
        return out
    batches = data if data is not None else calibration()
    name = onnx.load(str(src)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{name: b} for b in batches])

        def get_next(self):  # noqa: ANN201
            return next(self.it, None)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(src), str(out), Reader(), quant_format=getattr(QuantFormat, fmt), per_channel=per_channel,
                        activation_type=getattr(QuantType, activations), weight_type=getattr(QuantType, weights),
                        extra_options=extra or {})
    return out
