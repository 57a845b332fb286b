"""OpenVINO's CPU plugin over a ``.onnx`` file (optional: ``pip install -e '.[bench]'``).

Pinned to f32: on CPUs with AVX512-BF16 or AMX, OpenVINO otherwise runs bf16 silently and the
comparison would be between different arithmetic. The model is reshaped to the static input
shape before compiling so that it plans for the shape that is timed, as the engine does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from measure.runners.base import InputSpec, Runner, model_path, resolve_shape
from measure.runners.registry import register_runner


def _dims(partial_shape: Any) -> list[int | None]:
    return [d.get_length() if d.is_static else None for d in partial_shape]


@register_runner
class OpenVinoRunner(Runner):
    name = "openvino"
    model_kind = "onnx"
    requires = "openvino"
    install_hint = "pip install -e '.[bench]'"

    def __init__(self, model: str | os.PathLike[str], threads: int = 1,
                 input_shape: Sequence[int] | None = None) -> None:
        import openvino as ov

        core = ov.Core()
        net = core.read_model(model_path(model, "onnx"))
        self.inputs = []
        for k, port in enumerate(net.inputs):
            name = port.get_any_name()
            shape = resolve_shape(name, _dims(port.get_partial_shape()), input_shape if k == 0 else None)
            dtype = np.dtype(port.get_element_type().to_dtype()).name
            self.inputs.append(InputSpec(name, shape, dtype))
        if all(d is not None for spec in self.inputs for d in spec.shape):
            net.reshape({spec.name: list(spec.shape) for spec in self.inputs})
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY"}
        self.threads = threads
        self._compiled = core.compile_model(net, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._outputs = list(self._compiled.outputs)

    @classmethod
    def version(cls) -> str:
        import openvino as ov

        return ov.get_version()

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        results = self._request.infer({name: value for name, value in feeds.items()})
        return [np.asarray(results[out]) for out in self._outputs]

    def close(self) -> None:
        self._request = self._compiled = None
