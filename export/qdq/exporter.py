"""Fake-quantized PyTorch model -> QDQ ONNX file (QuantizeLinear/DequantizeLinear, integer weights)."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
from torch import nn

from compression.quantization.fake_quant import FakeQuantize
from compression.quantization.insert import quantizers
from compression.quantization.modules import QuantizedLayer
from export.onnx_export import to_onnx
from export.qdq.bias import export_integer_bias
from export.qdq.compact import COMPACTIONS, DEFAULT_COMPACTIONS, compact
from export.qdq.integer_weights import INT4_MIN_OPSET, integerize_weights
from export.qdq.symbolic import QDQParams, QuantizeDequantize

# the metadata entry that maps each activation quantizer to the DequantizeLinear output carrying its values
# (read by measure.parity to compare the file, layer by layer, with the PyTorch simulation)
METADATA_KEY = "slimlab.qdq.quantizers"
# the newest opset torch.onnx.export(dynamo=False) writes
TORCHSCRIPT_MAX_OPSET = 20


class QDQExportError(RuntimeError):
    """The model cannot be exported as QDQ ONNX (e.g. a quantizer was never calibrated)."""


@dataclass
class QDQExportReport:
    path: Path
    opset: int
    file_bytes: int
    integer_weights: int
    # activation quantizer name -> name of its DequantizeLinear output in the graph
    activation_outputs: dict[str, str] = field(default_factory=dict)


def params_of(name: str, q: FakeQuantize) -> QDQParams:
    spec = q.grid_spec()
    return QDQParams(
        name=name,
        role=q.role,
        scale=tuple(float(v) for v in q.quant_step().reshape(-1)),
        zero_point=tuple(int(v) for v in q.zero_point.reshape(-1)),
        axis=q.ch_axis,
        qmin=spec.qmin,
        qmax=spec.qmax,
        signed=spec.signed,
        bits=spec.bits,
    )


def _install_hooks(model: nn.Module) -> list[QDQParams]:
    params = []
    for name, q in quantizers(model):
        if q.mode != "frozen" or not bool(q.calibrated):
            raise QDQExportError(f"quantizer '{name}' is in mode '{q.mode}' (calibrated={bool(q.calibrated)}); "
                                 "calibrate and freeze the model before exporting")
        p = params_of(name, q)
        params.append(p)
        q.export_hook = lambda _q, x, p=p: QuantizeDequantize.apply(x, p)
    if not params:
        raise QDQExportError("the model has no quantizers; quantize it before a QDQ export")
    for module in model.modules():
        if isinstance(module, QuantizedLayer):
            # biases of layers with quantized input and weight are stored as int32 codes
            module.bias_export_hook = export_integer_bias
    return params


def export_qdq(
    model: nn.Module,
    example_input: torch.Tensor,
    path: str | os.PathLike[str],
    opset: int | None = None,
    int4: bool = True,
    compactions: tuple[str, ...] = DEFAULT_COMPACTIONS,
) -> QDQExportReport:
    """Export a calibrated fake-quantized model; weights of <= 4 bits are packed INT4 when ``int4``
    (which selects opset 21), other weights are int8/uint8 initializers.

    ``compactions`` (names in ``export.qdq.compact.COMPACTIONS``, applied in order) shrink the file without
    changing what it computes; ``()`` keeps the exporter's scoped names and Constant nodes, to read the file.
    """
    if isinstance(compactions, str):
        raise TypeError(f"compactions must be a sequence of names, got the string '{compactions}'")
    for name in compactions:
        COMPACTIONS.get(name)  # a misspelled name fails before the export, not after it
    deploy = copy.deepcopy(model).eval()
    for module in deploy.modules():
        # QAT modules with batch statistics (QuantizedConvBn) become plain folded layers
        to_deploy = getattr(module, "fold_for_deploy", None)
        if to_deploy is not None:
            to_deploy()
    params = _install_hooks(deploy)
    wants_int4 = int4 and any(p.role == "weight" and p.bits <= 4 for p in params)
    opset = opset or (INT4_MIN_OPSET if wants_int4 else 17)
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        traced: list[QDQParams] = []
        QuantizeDequantize.recorded = traced
        try:
            with warnings.catch_warnings():
                # the quantizer constants are meant to be baked into the trace
                warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
                to_onnx(deploy, example_input, raw, opset=min(opset, TORCHSCRIPT_MAX_OPSET), verify=False)
        finally:
            QuantizeDequantize.recorded = None
        proto = onnx.load(raw)
    if opset > TORCHSCRIPT_MAX_OPSET:
        # traced at the exporter's newest opset; the ops it emits keep their meaning at `opset`, which
        # only adds types (INT4 for DequantizeLinear)
        for entry in proto.opset_import:
            if entry.domain in ("", "ai.onnx"):
                entry.version = opset
    replaced, outputs = integerize_weights(proto, traced, opset)
    renames = compact(proto, tuple(compactions))
    outputs = {name: renames.get(value, value) for name, value in outputs.items()}
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(outputs, separators=(",", ":"))
    onnx.checker.check_model(proto, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, path)
    return QDQExportReport(path, opset, path.stat().st_size, replaced, outputs)
