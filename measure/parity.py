"""Layer-by-layer parity of a fake-quantized PyTorch model against its QDQ ONNX export.

Every activation quantizer's output in PyTorch is compared with the output of
the matching DequantizeLinear in the exported graph (the exporter records the
mapping in the model's metadata), in units of that quantizer's step. The first
layer (in execution order) off by more than one step is named.

Backends are registered in ``PARITY_BACKENDS``: ONNX Runtime (through its measure runner, the one place that
opens ORT sessions) and the bundled engine. ONNX Runtime is probed by adding the DequantizeLinear outputs as
graph outputs, which stops its fusions at every probe; the engine is asked instead for the integer tensors
of the graph it really runs (``engine.Session(keep_intermediates=True)``), after the converter folded each
DequantizeLinear -> op -> QuantizeLinear group into one integer op, and those codes are dequantized here.

CLI: ``python -m experiments.parity RUN_DIR`` with the run directory of ``experiments.compress`` (it holds the
quantized model and its QDQ export). It sits in the measure layer because it runs exported files on runtimes;
the quantizers it reads come from compression and the quantizer map from export, both below it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from compression.quantization.insert import quantizers
from configs.registry import Registry
from export.qdq import METADATA_KEY
from measure.runners import open_runner

# backend(onnx model with the probed values as extra outputs, input array) -> {value name: array}
Backend = Callable[[onnx.ModelProto, np.ndarray], dict[str, np.ndarray]]
PARITY_BACKENDS: Registry[Backend] = Registry("parity backend")


@PARITY_BACKENDS.register("onnxruntime")
def _run_onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    runner = open_runner("onnxruntime", model.SerializeToString())
    names = [o.name for o in model.graph.output]
    return dict(zip(names, runner.run({runner.inputs[0].name: x})))


@PARITY_BACKENDS.register("slimlab")
def _run_engine(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    import tempfile

    import engine
    import export
    from export.engine_file import load_engine_file_summary

    # the probes check_parity added are graph outputs that DequantizeLinear nodes compute; the engine runs the
    # graph without them and returns the integer codes those DequantizeLinear nodes would have read
    dq = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    q_of = {n.output[0]: n for n in model.graph.node if n.op_type == "QuantizeLinear"}
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    plain = onnx.ModelProto()
    plain.CopyFrom(model)
    probes = [o.name for o in model.graph.output if o.name in dq]
    kept = [o for o in model.graph.output if o.name not in dq]
    del plain.graph.output[:]
    plain.graph.output.extend(kept)

    def grid(node: onnx.NodeProto) -> tuple:
        zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return (node.input[0], consts[node.input[1]].tobytes(), None if zp is None else zp.tobytes())

    with tempfile.TemporaryDirectory(prefix="slimlab-parity-") as tmp:
        slm = export.convert_model(plain, f"{tmp}/model.slm").output
        names = {t.name for t in load_engine_file_summary(slm).tensors}
        # the converter merges QuantizeLinears of one value onto one grid (and keeps one name), so a probe
        # reads whichever of those codes the engine graph still has
        same_grid: dict[tuple, list[str]] = {}
        for out, q in q_of.items():
            same_grid.setdefault(grid(q), []).append(out)
        codes = {}
        for p in probes:
            src = dq[p].input[0]
            candidates = [src] + (same_grid.get(grid(q_of[src]), []) if src in q_of else [])
            found = next((c for c in candidates if c in names), None)
            if found is not None:
                codes[p] = found
        sess = engine.Session(slm, keep_intermediates=True)
        arrays = sess.run([o.name for o in kept] + list(codes.values()), {sess.inputs[0].name: x})
    got = dict(zip([o.name for o in kept], arrays[:len(kept)]))
    for probe, code in zip(codes, arrays[len(kept):], strict=True):
        node = dq[probe]
        scale = consts[node.input[1]].astype(np.float32)
        zp_const = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        zp = np.int32(0) if zp_const is None else zp_const.astype(np.int32)
        if code.dtype == np.uint8 and zp_const is not None and zp_const.dtype == np.int8:
            zp = zp + 128  # the engine keeps int8 activations as uint8 codes (engine/QUANTIZED.md)
        if scale.ndim == 1 and scale.size > 1:  # per axis: channels
            shape = [1] * code.ndim
            shape[1] = -1
            scale, zp = scale.reshape(shape), np.reshape(zp, shape)
        got[probe] = ((code.astype(np.int32) - zp) * scale).astype(np.float32)
    return got


@dataclass
class LayerParity:
    name: str
    max_steps: float


@dataclass
class ParityReport:
    backend: str
    layers: list[LayerParity] = field(default_factory=list)
    output_max_abs: float = 0.0
    top1_agreement: float = 1.0
    first_divergent: str | None = None
    # quantized activations the backend's graph does not hold (e.g. a value the engine's converter moved a
    # layout op across): named, not compared
    unobserved: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [f"parity vs {self.backend}: {len(self.layers)} quantized activations"]
        lines += [f"  {lp.max_steps:8.3f} steps  {lp.name}" for lp in self.layers]
        lines.append(f"output max |diff| {self.output_max_abs:.4g}, top-1 agreement {100 * self.top1_agreement:.2f}%")
        if self.unobserved:
            lines.append(f"not held by the {self.backend} graph (not compared): {', '.join(self.unobserved)}")
        lines.append(f"first layer off by more than one step: {self.first_divergent or 'none'}")
        return "\n".join(lines)


def _torch_activations(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], list[str], torch.Tensor]:
    values: dict[str, torch.Tensor] = {}
    order: list[str] = []
    handles = []
    for name, q in quantizers(model):
        if q.role == "weight":
            continue

        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor, name: str = name) -> None:
            if name not in values:
                values[name] = out.detach()
                order.append(name)

        handles.append(q.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return values, order, out


def check_parity(
    model: nn.Module, onnx_model: onnx.ModelProto | str | Path, x: torch.Tensor, backend: str = "onnxruntime",
    tolerance_steps: float = 1.0,
) -> ParityReport:
    run = PARITY_BACKENDS.get(backend)
    proto = onnx.load(str(onnx_model)) if isinstance(onnx_model, (str, Path)) else onnx_model
    meta = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in meta:
        raise ValueError("the ONNX model has no quantizer map: it was not written by export.qdq.export_qdq")
    mapping: dict[str, str] = json.loads(meta[METADATA_KEY])
    probed = onnx.ModelProto()
    probed.CopyFrom(proto)
    existing = {o.name for o in probed.graph.output}
    for value in mapping.values():
        if value not in existing:
            probed.graph.output.append(onnx.helper.make_tensor_value_info(value, onnx.TensorProto.FLOAT, None))
            existing.add(value)
    model.eval()
    torch_values, order, torch_out = _torch_activations(model, x)
    got = run(probed, x.detach().cpu().numpy())
    steps = {name: q.quant_step() for name, q in quantizers(model)}
    report = ParityReport(backend)
    for name in order:
        if name not in mapping:
            continue
        ref = torch_values[name].cpu().numpy()
        if mapping[name] not in got:
            report.unobserved.append(name)
            continue
        other = got[mapping[name]]
        if other.shape != ref.shape:
            raise ValueError(f"layer '{name}': backend shape {other.shape} != PyTorch shape {ref.shape}")
        step = float(steps[name].max())
        err = float(np.max(np.abs(other - ref))) / step if ref.size else 0.0
        report.layers.append(LayerParity(name, err))
        # float error in the comparison itself is far below 1e-3 steps
        if report.first_divergent is None and err > tolerance_steps + 1e-3:
            report.first_divergent = name
    final = got[proto.graph.output[0].name]
    ref_out = torch_out.detach().cpu().numpy()
    report.output_max_abs = float(np.max(np.abs(final - ref_out)))
    if ref_out.ndim == 2:
        report.top1_agreement = float(np.mean(final.argmax(1) == ref_out.argmax(1)))
    return report
