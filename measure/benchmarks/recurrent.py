"""Latency of 2-layer LSTM and GRU stacks (keyword-spotting / sensor sizes): the engine against ONNX Runtime.

    .venv/bin/python -m measure.benchmarks.recurrent [--rounds 7] [--runs 20] [--threads 1,2]

Each case is one ONNX graph (two recurrent nodes, batch 1) converted with export.convert_model (default
passes) and run by engine.Session and by an onnxruntime.InferenceSession (all graph optimizations, the
same intra-op thread count). Rounds interleave the two engines in one process; a round's figure is the median
of `runs` calls; the table gives the median over rounds, the spread (min .. max over rounds) and the
engine/ORT ratio of the medians. A figure, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import engine
import export

GATES = {"LSTM": 4, "GRU": 3}


@dataclass(frozen=True)
class Case:
    op: str
    seq: int
    inp: int
    hidden: int
    batch: int = 1
    bidirectional: bool = False

    @property
    def name(self) -> str:
        bi = " bi" if self.bidirectional else ""
        return f"{self.op}{bi} 2x{self.hidden} seq{self.seq} in{self.inp} b{self.batch}"


CASES = [Case("LSTM", 100, 40, 128), Case("GRU", 100, 40, 128), Case("LSTM", 50, 64, 256), Case("GRU", 50, 64, 256),
         Case("LSTM", 100, 40, 128, bidirectional=True), Case("GRU", 100, 40, 128, bidirectional=True)]


def stack_model(c: Case, seed: int = 0) -> onnx.ModelProto:
    """Two layers; layer 2 reads layer 1's Y as [seq, batch, dirs * hidden]; the output is layer 2's Y_h."""
    rng = np.random.default_rng(seed)
    g = GATES[c.op]
    dirs = 2 if c.bidirectional else 1
    direction = "bidirectional" if c.bidirectional else "forward"
    inits, nodes = [], []
    x = "x"
    for layer, inp in enumerate((c.inp, dirs * c.hidden)):
        w = (rng.standard_normal((dirs, g * c.hidden, inp)) / np.sqrt(inp)).astype(np.float32)
        r = (rng.standard_normal((dirs, g * c.hidden, c.hidden)) / np.sqrt(c.hidden)).astype(np.float32)
        b = (0.1 * rng.standard_normal((dirs, 2 * g * c.hidden))).astype(np.float32)
        names = [f"W{layer}", f"R{layer}", f"B{layer}"]
        inits += [numpy_helper.from_array(a, n) for a, n in zip((w, r, b), names, strict=True)]
        last = layer == 1
        outs = ["", "y_h"] if last else [f"Y{layer}"]
        nodes.append(helper.make_node(c.op, [x, *names], outs, hidden_size=c.hidden, direction=direction,
                                      name=f"{c.op.lower()}{layer}"))
        if not last:
            # [seq, dirs, batch, hidden] -> [seq, batch, dirs * hidden], as torch exports a stacked layer
            inits.append(numpy_helper.from_array(np.array([c.seq, c.batch, dirs * c.hidden], np.int64), "shape1"))
            nodes.append(helper.make_node("Transpose", [f"Y{layer}"], [f"t{layer}"], perm=[0, 2, 1, 3]))
            nodes.append(helper.make_node("Reshape", [f"t{layer}", "shape1"], [f"x{layer + 1}"]))
            x = f"x{layer + 1}"
    graph = helper.make_graph(
        nodes, c.name.replace(" ", "_"),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [c.seq, c.batch, c.inp])],
        [helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [dirs, c.batch, c.hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median milliseconds of `runs` calls."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--isa", default=None, help="engine ISA (default: the best this CPU runs)")
    ap.add_argument("--cases", default="", help="only the cases whose name contains one of these (comma-separated)")
    args = ap.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="recurrent_bench_"))
    sessions = []
    for i, c in enumerate(CASES):
        if args.cases and not any(k in c.name for k in args.cases.split(",")):
            continue
        model = stack_model(c, seed=i)
        path = tmp / f"case{i}.slm"
        export.convert_model(model, path)
        x = np.random.default_rng(100 + i).standard_normal((c.seq, c.batch, c.inp)).astype(np.float32)
        for t in thread_counts:
            eng = engine.Session(path, threads=t, isa=args.isa)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = t
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            ref = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            got = eng.run(None, {"x": x})[0]
            want = ref.run(None, {"x": x})[0]
            err = float(np.max(np.abs(got - want)))
            sessions.append((c, t, eng, ref, x, err))
    results: dict[tuple[str, int], tuple[list[float], list[float]]] = {}
    for _ in range(args.rounds):
        for c, t, eng, ref, x, _err in sessions:
            feeds = {"x": x}
            e_ms = timed(lambda eng=eng, feeds=feeds: eng.run(None, feeds), args.runs)
            o_ms = timed(lambda ref=ref, feeds=feeds: ref.run(None, feeds), args.runs)
            res = results.setdefault((c.name, t), ([], []))
            res[0].append(e_ms)
            res[1].append(o_ms)
    isa = sessions[0][2].isa if sessions else "-"
    print(f"engine isa {isa}, onnxruntime {ort.__version__}; {args.rounds} rounds x {args.runs} runs, batch 1")
    print(f"{'case':37s} {'thr':>3s} {'engine ms (min..max)':>24s} {'ORT ms (min..max)':>24s} {'eng/ORT':>7s} "
          f"{'max|diff|':>9s}")
    for c, t, _eng, _ref, _x, err in sessions:
        e, o = results[(c.name, t)]
        em, om = statistics.median(e), statistics.median(o)
        print(f"{c.name:37s} {t:3d} {em:8.3f} ({min(e):6.3f}..{max(e):6.3f}) {om:8.3f} ({min(o):6.3f}..{max(o):6.3f}) "
              f"{em / om:7.2f} {err:9.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
