"""Runners: one module per backend, each registering its class in ``RUNNERS``.

The list below is explicit (no package scan) so that what can be measured is readable here and
a broken optional runner fails at import, not silently. Adding a runner is one module and one
line. Optional backends (OpenVINO) register always and report ``available() == False`` when
their package is missing; ``open_runner`` then raises ``RunnerUnavailableError``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from measure.runners import onnxruntime, openvino, pytorch, slimlab  # noqa: F401  (registers them)
from measure.runners.base import InputSpec, Runner, RunnerUnavailableError
from measure.runners.pytorch import save_pt2
from measure.runners.registry import RUNNERS, register_runner

__all__ = ["RUNNERS", "InputSpec", "Runner", "RunnerUnavailableError", "check_available", "open_runner",
           "register_runner", "save_pt2"]


def check_available(name: str) -> type[Runner]:
    """The runner class for ``name``; an unknown name lists the valid ones, a missing package says what to install."""
    cls = RUNNERS.get(name)
    if not cls.available():
        hint = f" ({cls.install_hint})" if cls.install_hint else ""
        raise RunnerUnavailableError(f"runner '{name}' is not available here: '{cls.requires}' "
                                     f"cannot be imported{hint}")
    return cls


def open_runner(name: str, model: str | os.PathLike[str] | Any, threads: int = 1,
                input_shape: Sequence[int] | None = None) -> Runner:
    """A fresh session of runner ``name`` over ``model`` (a path; PyTorch also takes a module)."""
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    return check_available(name)(model, threads=threads, input_shape=input_shape)
