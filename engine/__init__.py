"""The bundled C++ inference engine (runtime, kernels) and its Python binding.

    sess = engine.Session("model.slm", threads=4)
    (y,) = sess.run(None, {"input": x})          # the ONNX Runtime convention

Model files (``.slm``) are written by ``export``; their format is engine/FORMAT.md.
The compiled module ``engine._engine`` is built by ``pip install -e .``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    from . import _engine
except ImportError as exc:  # pragma: no cover - depends on the build state
    raise ImportError(
        "engine._engine is not built; run `pip install -e . --no-build-isolation` (or `make install`) "
        f"from the repository root ({exc})"
    ) from exc

EngineError = _engine.EngineError
__version__: str = _engine.__version__
# Sessions with more threads are refused (each thread is an OS thread, created up front).
MAX_THREADS: int = _engine.MAX_THREADS
# A session refuses a model whose weights plus the activations of a run need more (the engine's default).
DEFAULT_MAX_MEMORY_BYTES: int = _engine.DEFAULT_MAX_MEMORY_BYTES

__all__ = ["DEFAULT_MAX_MEMORY_BYTES", "MAX_THREADS", "EngineError", "MemoryInfo", "OpTiming", "Session",
           "TensorInfo", "PeakInfo", "available_isas", "measure_fma_peak", "supported_ops", "__version__"]


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: symbolic dims are their names (str), static dims ints."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str  # numpy dtype name, e.g. "float32"


@dataclass(frozen=True)
class OpTiming:
    node: str
    op_type: str
    kernel: str  # the kernel variant (ISA) that ran
    calls: int
    total_ms: float

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class MemoryInfo:
    arena_bytes: int  # activation arena of the most recent plan
    naive_activation_bytes: int  # the same activations without buffer reuse
    weights_bytes: int
    live_peak_bytes: int  # most activation bytes alive at one step: no arena can be smaller


def _tensor_info(raw: tuple[str, list[int], list[str], str]) -> TensorInfo:
    name, dims, dim_names, dtype = raw
    shape = tuple((dim_names[i] or "?") if d < 0 else d for i, d in enumerate(dims))
    return TensorInfo(name, shape, dtype)


class Session:
    """An engine session over one model file (path) or model bytes.

    ``threads``: 1..MAX_THREADS. ``max_memory_bytes``: a model whose weights plus the activation arena of a
    run would need more is refused (at load for the weights, at the first run of an input shape for the
    rest) with the amount it needs; default DEFAULT_MAX_MEMORY_BYTES (4 GiB), 0 = no cap. Model files are
    validated field by field at load, so a corrupted or hostile file raises EngineError.
    ``keep_intermediates``: no buffer reuse, and ``run`` returns any value a node computes by name (in ONNX
    layout): the graph as the engine runs it, after the converter's fusions (parity checks, debugging).
    """

    def __init__(self, model: str | os.PathLike[str] | bytes, threads: int = 1, isa: str | None = None,
                 max_memory_bytes: int | None = None, keep_intermediates: bool = False) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
            raise EngineError(f"threads must be an int in 1..{MAX_THREADS}, got {threads!r}")
        if max_memory_bytes is None:
            max_memory_bytes = DEFAULT_MAX_MEMORY_BYTES
        if isinstance(max_memory_bytes, bool) or not isinstance(max_memory_bytes, int) or max_memory_bytes < 0:
            raise EngineError(f"max_memory_bytes must be an int >= 0 (0 = no cap), got {max_memory_bytes!r}")
        if isinstance(model, (bytes, bytearray, memoryview)):
            self._sess = _engine.Session.from_bytes(bytes(model), threads, isa or "", max_memory_bytes,
                                                    bool(keep_intermediates))
        else:
            self._sess = _engine.Session(os.fspath(model), threads, isa or "", max_memory_bytes,
                                         bool(keep_intermediates))
        self.inputs: list[TensorInfo] = [_tensor_info(r) for r in self._sess.inputs]
        self.outputs: list[TensorInfo] = [_tensor_info(r) for r in self._sess.outputs]
        self._input_dtype = {i.name: i.dtype for i in self.inputs}

    @property
    def metadata(self) -> dict[str, str]:
        """The model file's metadata (written by the converter)."""
        return dict(self._sess.metadata)

    @property
    def isa(self) -> str:
        return self._sess.isa

    @property
    def threads(self) -> int:
        return self._sess.threads

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> list[np.ndarray]:
        """Runs the model; returns the requested outputs (all when None) as new arrays.

        Every input must be fed, with the model's dtype, rank and static dims; symbolic dims that share a name
        must agree. An empty dim (e.g. batch 0) runs and gives empty outputs, as in ONNX Runtime, where the
        graph allows it. Any memory or byte order is accepted (copied to native C order first).
        """
        arrays = {}
        for name, value in feeds.items():
            arr = np.asarray(value)
            want = self._input_dtype.get(name)
            if want is None:
                known = ", ".join(self._input_dtype)
                raise EngineError(f"unknown input name '{name}' (model inputs: {known})")
            if arr.dtype.name != want:
                raise EngineError(f"input '{name}' has dtype {arr.dtype.name}, the model expects {want}")
            if not arr.dtype.isnative:  # '>f4' is also named float32; the engine reads native byte order
                arr = arr.astype(arr.dtype.newbyteorder("="))
            # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
            arrays[name] = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        # The GIL is released inside: several Python threads may run one session at once.
        return list(self._sess.run(list(output_names or []), arrays))

    def profile(self) -> list[OpTiming]:
        """Per node (and layout conversion) timings accumulated over all runs."""
        return [OpTiming(*row) for row in self._sess.profile()]

    def reset_profile(self) -> None:
        self._sess.reset_profile()

    @property
    def memory(self) -> MemoryInfo:
        return MemoryInfo(*self._sess.memory)


def supported_ops() -> dict[str, list[str]]:
    """Op type -> supported dtype names, generated from the engine's op registry."""
    return {k: list(v) for k, v in _engine.supported_ops().items()}


@dataclass(frozen=True)
class PeakInfo:
    isa: str
    threads: int
    gflops: float


def measure_fma_peak(threads: int = 1, seconds: float = 0.3) -> PeakInfo:
    """This machine's f32 FMA peak in GFLOP/s, measured now on ``threads`` threads at the best ISA the CPU has
    (register-only FMA chains, best timing over ``seconds``): the denominator of fraction-of-peak figures."""
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise EngineError(f"threads must be an int in 1..{MAX_THREADS}, got {threads!r}")
    if not 0 < seconds <= 60:
        raise EngineError(f"seconds must be in (0, 60], got {seconds!r}")
    isa, n, gflops = _engine.measure_fma_peak(threads, float(seconds))
    return PeakInfo(isa, n, gflops)


def available_isas() -> list[str]:
    """ISA levels this CPU can run, lowest first (``scalar`` is always present)."""
    return list(_engine.available_isas())
