"""The bundled engine (``engine.Session``) over a ``.slm`` file."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from measure.runners.base import InputSpec, Runner, RunnerUnavailableError, model_path, resolve_shape
from measure.runners.registry import register_runner


def _engine() -> Any:
    try:
        import engine
    except ImportError as exc:
        raise RunnerUnavailableError(f"runner 'slimlab' needs the built engine: {exc}") from exc
    return engine


@functools.lru_cache(maxsize=1)
def _binary_digest() -> str:
    # the version string does not change when the C++ is edited and rebuilt; the binary does
    binary = Path(_engine()._engine.__file__)
    return hashlib.sha256(binary.read_bytes()).hexdigest()[:16]


@register_runner
class SlimlabRunner(Runner):
    name = "slimlab"
    model_kind = "slm"
    requires = "engine"
    install_hint = "build it with `pip install -e . --no-build-isolation`"

    def __init__(self, model: str | os.PathLike[str], threads: int = 1, input_shape: Sequence[int] | None = None,
                 isa: str | None = None) -> None:
        engine = _engine()
        self.threads = threads
        self._sess = engine.Session(model_path(model, "slm"), threads=threads, isa=isa)
        first = self._sess.inputs[0].name if self._sess.inputs else None
        self.inputs = [InputSpec(i.name, resolve_shape(i.name, i.shape, input_shape if i.name == first else None),
                                 i.dtype) for i in self._sess.inputs]

    @classmethod
    def available(cls) -> bool:
        try:
            _engine()
        except ImportError:
            return False
        return True

    @classmethod
    def version(cls) -> str:
        # SLIMLAB_ISA forces a lower kernel ISA, which changes the speed of the same binary
        isa = os.environ.get("SLIMLAB_ISA", "auto")
        return f"{_engine().__version__}+{_binary_digest()}+isa={isa}"

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(None, feeds)

    def info(self) -> dict[str, Any]:
        mem = self._sess.memory
        return {"isa": self._sess.isa, "arena_bytes": mem.arena_bytes,
                "naive_activation_bytes": mem.naive_activation_bytes, "weights_bytes": mem.weights_bytes,
                "live_peak_bytes": mem.live_peak_bytes}

    def close(self) -> None:
        self._sess = None
