"""Small engine files for the serving tests, built by hand (no torch, milliseconds), with NumPy references."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.engine.slm_builder import SlmBuilder


class Dense:
    """x[batch, 4] -> y = x @ w + b [batch, 3], z = Relu(y): two outputs, rows independent (batchable)."""

    def __init__(self, seed: int = 0, batch: int | str = "batch") -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.standard_normal((4, 3)).astype(np.float32)
        self.b = rng.standard_normal(3).astype(np.float32)
        sb = SlmBuilder()
        sb.input("x", [batch, 4])
        sb.constant("w", self.w)
        sb.constant("b", self.b)
        sb.value("y", [batch, 3])
        sb.value("z", [batch, 3])
        sb.node("MatMul", ["x", "w"], ["xw"], name="matmul")
        sb.node("Add", ["xw", "b"], ["y"], name="add")
        sb.node("Relu", ["y"], ["z"], name="relu")
        sb.output("y")
        sb.output("z")
        self.data = sb.to_bytes()

    def reference(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = x @ self.w + self.b
        return y, np.maximum(y, 0)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path
