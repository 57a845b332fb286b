"""ONNX Runtime's CPU provider over a ``.onnx`` file: the reference the engine is compared with.

The one place in slimlab that builds an ``onnxruntime.InferenceSession`` for measurement or
outputs: code that needs ORT's outputs asks ``measure.open_runner("onnxruntime", path)``, so
thread and optimization settings cannot drift between the benchmark and the checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from measure.runners.base import InputSpec, Runner, model_path, resolve_shape
from measure.runners.registry import register_runner

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
           "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
           "tensor(bool)": "bool"}


@register_runner
class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"
    model_kind = "onnx"
    requires = "onnxruntime"
    install_hint = "pip install onnxruntime (part of slimlab[test])"

    def __init__(self, model: str | os.PathLike[str] | bytes, threads: int = 1,
                 input_shape: Sequence[int] | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        # one op at a time, as the engine runs: inter-op parallelism would compare different schedules
        opts.inter_op_num_threads = 1
        source = bytes(model) if isinstance(model, (bytes, bytearray)) else model_path(model, "onnx")
        self.threads = threads
        self._sess = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        declared = self._sess.get_inputs()
        self.inputs = [InputSpec(i.name, resolve_shape(i.name, i.shape, input_shape if k == 0 else None),
                                 _DTYPES.get(i.type, "float32")) for k, i in enumerate(declared)]

    @classmethod
    def version(cls) -> str:
        import onnxruntime as ort

        return ort.__version__

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(None, dict(feeds))

    def info(self) -> dict[str, Any]:
        return {"providers": self._sess.get_providers()}

    def close(self) -> None:
        self._sess = None
