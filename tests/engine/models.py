"""Small hand-built models shared by the engine tests, with NumPy references."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.engine.slm_builder import SlmBuilder


def conv2d_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, pads: tuple[int, int, int, int],
                     strides: tuple[int, int] = (1, 1), group: int = 1) -> np.ndarray:
    """NCHW convolution; pads = (top, left, bottom, right) as in ONNX."""
    t, l, bo, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    kh, kw = w.shape[2:]
    cg, mg = x.shape[1] // group, w.shape[0] // group
    outs = []
    for g in range(group):
        win = sliding_window_view(xp[:, g * cg:(g + 1) * cg], (kh, kw), axis=(2, 3))
        win = win[:, :, ::strides[0], ::strides[1]]  # N, C, OH, OW, kh, kw
        outs.append(np.einsum("nchwij,mcij->nmhw", win, w[g * mg:(g + 1) * mg]))
    return np.concatenate(outs, axis=1) + b[None, :, None, None]


class ConvReluAdd:
    """x[batch, 3, h, w] -> Conv(3x3, pads 1, bias, fused Relu) -> Add(k[4, 1, 1]) -> y."""

    def __init__(self, seed: int = 0, fp16: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        self.b = rng.standard_normal(4).astype(np.float32)
        self.k = rng.standard_normal((4, 1, 1)).astype(np.float32)
        if fp16:  # the engine widens fp16 storage; the reference must see the same values
            self.w = self.w.astype(np.float16).astype(np.float32)
        sb = SlmBuilder()
        sb.input("x", ["batch", 3, "height", "width"])
        sb.constant("w", self.w, fp16=fp16)
        sb.constant("b", self.b)
        sb.constant("k", self.k)
        sb.value("y", ["batch", 4, "height", "width"])
        sb.node("Conv", ["x", "w", "b"], ["h"], name="conv", pads=[1, 1, 1, 1], activation="Relu")
        sb.node("Add", ["h", "k"], ["y"], name="add")
        sb.output("y")
        sb.meta.update(producer="slm_builder", note="ünïcode")
        self.data = sb.to_bytes()

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(conv2d_reference(x, self.w, self.b, (1, 1, 1, 1)), 0) + self.k[None]
