"""Where an engine run stands against the machine: GFLOP/s per op class as a fraction of the measured FMA peak.

    python -m measure.peak_fraction model.onnx|model.slm [--threads 1 2] [--runs 50]

Per op class (1x1 conv, 3x3 conv, other dense conv, depthwise conv, GEMM/MatMul, attention, elementwise, other):
the floating-point operations of its nodes (2 per multiply-add; one per element for elementwise ops), the time
the engine's profiler gives them, their GFLOP/s and that as a share of ``engine.measure_fma_peak`` at the same
thread count, plus the model end to end. The FLOPs come from the engine file's tensor shapes (a symbolic dim
counts as 1: batch 1), so they are the engine's own graph after fusion, not the source model's.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import engine
from export.converter import convert
from export.engine_file import EngineFileSummary, load_engine_file_summary

ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "SiLU", "Gelu",
               "Tanh", "LeakyRelu", "Erf", "Sqrt", "Pow", "Max", "Min", "Neg", "Exp", "PRelu", "Softmax",
               "LayerNormalization", "BatchNormalization", "GlobalAveragePool", "ReduceMean", "AveragePool",
               "MaxPool", "GlobalMaxPool"}
CLASSES = ("1x1 conv", "3x3 conv", "other dense conv", "depthwise conv", "GEMM/MatMul", "attention", "elementwise",
           "other")


@dataclass
class ClassFigures:
    name: str
    nodes: int
    gflop: float
    ms: float

    @property
    def gflops(self) -> float:
        return self.gflop / (self.ms / 1e3) if self.ms > 0 else 0.0


def _numel(shape: list[int]) -> int:
    return math.prod(max(1, d) if d < 0 else d for d in shape)


def node_flops(summary: EngineFileSummary, index: int) -> tuple[str, float]:
    """(op class, floating-point operations) of node ``index`` of the file."""
    n = summary.nodes[index]
    shape = lambda t: [1 if d < 0 else d for d in summary.tensors[t].shape]  # noqa: E731
    out = shape(n.outputs[0]) if n.outputs else []
    if n.op_type in ("Conv", "QLinearConv"):
        w = shape(n.inputs[1] if n.op_type == "Conv" else n.inputs[3])
        group = int(n.attrs.get("group", 1))
        macs = _numel(out) * w[1] * math.prod(w[2:])
        k = tuple(w[2:])
        if group > 1 and w[1] == 1:
            cls = "depthwise conv"
        elif all(d == 1 for d in k):
            cls = "1x1 conv"
        elif k == (3, 3):
            cls = "3x3 conv"
        else:
            cls = "other dense conv"
        return cls, 2.0 * macs
    if n.op_type in ("Gemm", "MatMul", "QGemm", "QLinearMatMul"):
        a = shape(n.inputs[0])
        k = a[0] if n.op_type == "Gemm" and int(n.attrs.get("transA", 0)) else a[-1]
        return "GEMM/MatMul", 2.0 * _numel(out) * k
    if n.op_type == "MatMulSoftmaxMatMul":
        q, kt = shape(n.inputs[0]), shape(n.inputs[1])
        scores = _numel(q[:-1]) * kt[-1]
        return "attention", 2.0 * scores * q[-1] + 2.0 * _numel(out) * kt[-1] + 5.0 * scores
    if n.op_type in ELEMENTWISE:
        return "elementwise", float(_numel(out))
    return "other", 0.0


def _feeds(session: engine.Session) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for i in session.inputs:
        dims = [d if isinstance(d, int) else 1 for d in i.shape]
        feeds[i.name] = rng.standard_normal(dims).astype(i.dtype) if i.dtype.startswith("float") else \
            np.zeros(dims, i.dtype)
    return feeds


def measure(slm: Path, threads: int, runs: int) -> tuple[list[ClassFigures], float, float, float]:
    """Per-class figures, end-to-end GFLOP/s, median run ms and the FMA peak (GFLOP/s) at ``threads``."""
    summary = load_engine_file_summary(slm)
    by_name = {n.name: i for i, n in enumerate(summary.nodes)}
    session = engine.Session(slm, threads=threads)
    feeds = _feeds(session)
    for _ in range(10):
        session.run(None, feeds)
    session.reset_profile()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t)
    figures = {c: ClassFigures(c, 0, 0.0, 0.0) for c in CLASSES}
    total_flop = 0.0
    for p in session.profile():
        if p.node not in by_name:  # layout conversions the executor inserted
            figures["other"].ms += p.total_ms / max(1, p.calls)
            continue
        cls, flop = node_flops(summary, by_name[p.node])
        f = figures[cls]
        f.nodes += 1
        f.gflop += flop / 1e9
        f.ms += p.total_ms / max(1, p.calls)
        total_flop += flop
    median_ms = statistics.median(times) * 1e3
    peak = engine.measure_fma_peak(threads).gflops
    return [f for f in figures.values() if f.nodes or f.ms], total_flop / 1e9 / (median_ms / 1e3), median_ms, peak


def format_table(model: str, threads: int, figures: list[ClassFigures], e2e: float, ms: float, peak: float) -> str:
    lines = [f"{model}, {threads} thread(s): {ms:.3f} ms per run (median), end to end {e2e:.1f} GFLOP/s = "
             f"{100 * e2e / peak:.1f}% of the {peak:.1f} GFLOP/s FMA peak",
             "| op class | nodes | GFLOP | ms (profiled) | GFLOP/s | % of peak |", "|---|---:|---:|---:|---:|---:|"]
    for f in figures:
        share = f"{100 * f.gflops / peak:.1f}" if f.gflop else "-"
        rate = f"{f.gflops:.1f}" if f.gflop else "-"
        lines.append(f"| {f.name} | {f.nodes} | {f.gflop:.3f} | {f.ms:.3f} | {rate} | {share} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an ONNX model (converted first) or an engine file (.slm)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        print(f"error: {args.model}: no such file", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        slm = args.model
        if args.model.suffix == ".onnx":
            slm = Path(tmp) / "model.slm"
            convert(args.model, slm)
        for threads in args.threads:
            figures, e2e, ms, peak = measure(slm, threads, args.runs)
            print(format_table(args.model.name, threads, figures, e2e, ms, peak) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
