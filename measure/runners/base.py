"""What every runner is: a session over one model file, fed and read with ONNX Runtime's convention.

A runner is created from a model (a file, or for PyTorch an in-memory module) and a thread
count, resolves its input shapes once, and then only runs. Creation is the "session" whose
cost the timing protocol records separately from the runs.
"""

from __future__ import annotations

import abc
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

# what the measure step and the benchmark hand to each runner kind
MODEL_KINDS = ("slm", "onnx", "torch")


class RunnerUnavailableError(ImportError):
    """An optional runner whose package is not installed (or the engine is not built).

    An ImportError so that callers which already degrade when the engine is missing keep working.
    """


@dataclass(frozen=True)
class InputSpec:
    name: str
    # static dims; None where the model's dim is symbolic and no input_shape resolved it
    shape: tuple[int | None, ...]
    dtype: str  # numpy dtype name

    def static_shape(self) -> tuple[int, ...]:
        if any(d is None for d in self.shape):
            raise ValueError(f"input '{self.name}' has symbolic dims ({_fmt(self.shape)}): pass input_shape")
        return tuple(int(d) for d in self.shape if d is not None)


def resolve_shape(name: str, declared: Sequence[int | str | None],
                  override: Sequence[int] | None) -> tuple[int | None, ...]:
    """The shape to feed, from the model's declared one and the caller's ``input_shape``.

    Symbolic dims take the override's value; without an override a symbolic batch dim is 1 (the
    latency everyone quotes) and any other symbolic dim stays None: ``example_feeds`` then asks
    for ``input_shape``, since guessing an image size would time a different model than the one
    meant, while a caller that brings its own feeds (a parity check) needs no shape at all.
    """
    if override is not None:
        override = tuple(int(d) for d in override)
        if len(override) != len(declared):
            raise ValueError(f"input '{name}' has rank {len(declared)} ({_fmt(declared)}), "
                             f"input_shape {list(override)} has rank {len(override)}")
        for want, got in zip(declared, override):
            if isinstance(want, int) and want >= 0 and want != got:
                raise ValueError(f"input '{name}' is {_fmt(declared)} in the model file; "
                                 f"input_shape {list(override)} contradicts it")
        return override
    return tuple(d if isinstance(d, int) and d >= 0 else (1 if i == 0 else None) for i, d in enumerate(declared))


def _fmt(shape: Sequence[int | str | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


class Runner(abc.ABC):
    """One session of one backend over one model."""

    name: ClassVar[str]
    # what it reads: an engine file (slm), an ONNX file (onnx), or a PyTorch model (torch)
    model_kind: ClassVar[str]
    # module that must be importable; None: always available
    requires: ClassVar[str | None] = None
    install_hint: ClassVar[str] = ""

    inputs: list[InputSpec]
    threads: int

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def input_shapes(self) -> list[tuple[int | None, ...]]:
        return [i.shape for i in self.inputs]

    @classmethod
    def available(cls) -> bool:
        return cls.requires is None or importlib.util.find_spec(cls.requires) is not None

    @classmethod
    def version(cls) -> str:
        """The backend's version: part of the cache key, since a new build may be faster."""
        return "unknown"

    @abc.abstractmethod
    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """All outputs, as numpy arrays, in the model's output order."""

    def example_feeds(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Inputs drawn from a seeded normal: the same seed gives every runner identical data."""
        rng = np.random.default_rng(seed)
        return {i.name: rng.standard_normal(i.static_shape()).astype(i.dtype) for i in self.inputs}

    def info(self) -> dict[str, Any]:
        """What the backend reports about itself after running (ISA, memory); empty by default."""
        return {}

    def close(self) -> None:  # noqa: B027  (a no-op suits runners that hold nothing)
        """Drops the session so that the next round's fresh session does not share its memory."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def model_path(model: object, kind: str) -> str:
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"this runner reads a .{kind} file path, got {type(model).__name__}")
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path} does not exist")
    return path
