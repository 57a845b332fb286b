"""The int8 file every engine of an int8 benchmark runs: ONNX Runtime's ``quantize_static`` in QDQ form.

The peers' published int8 figures (and the table of the int8 issue) come from this recipe: per-channel
symmetric int8 weights, uint8 activations with a zero point, MinMax calibration. Using one file for every
engine keeps the comparison about the engines, not about two quantizers. Calibration data is seeded random
input of the timed shape: enough to fix the scales latency depends on (it does not depend on their values);
accuracy is measured on real data by the compression runs, not here.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx


def quantize_reference_int8(onnx_path: str | os.PathLike[str], out_path: str | os.PathLike[str],
                            input_shape: tuple[int, ...], *, calibration_batches: int = 4, seed: int = 0,
                            per_channel: bool = True) -> Path:
    """Write ``out_path``, the QDQ int8 version of ``onnx_path`` (u8 activations, s8 weights)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].name
    rng = np.random.default_rng(seed)
    batches = [{name: rng.standard_normal(input_shape).astype(np.float32)} for _ in range(calibration_batches)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    out = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ORT's advice to run pre-processing, which this does
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(onnx_path), str(pre))
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out
