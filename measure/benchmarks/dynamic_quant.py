"""Latency of a dynamically quantized transformer encoder: the engine vs ONNX Runtime, and vs the engine's fp32.

A torch ``TransformerEncoder`` is exported (opset 17), pre-processed (``quant_pre_process``) and quantized with
``onnxruntime.quantization.quantize_dynamic`` (per tensor, or per channel with ``--per-channel``); the engine runs
the converted file (its MatMul chains fused into DynamicQuantMatMul) and ORT the quantized ONNX file with its
default optimizations. Rounds are interleaved (engine int8, ORT int8, engine fp32, ORT fp32, ...) so that a noisy
neighbour slows all of them alike; each figure is the median over rounds of the mean of ``--iters`` runs.

    .venv/bin/python -m measure.benchmarks.dynamic_quant --threads 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort


def _build(tmp: Path, d_model: int, heads: int, ffn: int, layers: int, seq: int,
           per_channel: bool) -> tuple[Path, Path, np.ndarray]:
    import torch
    from onnxruntime.quantization import quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model, heads, ffn, dropout=0.0, batch_first=True)
    enc = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False).eval()
    x = np.random.default_rng(0).standard_normal((1, seq, d_model)).astype(np.float32)
    fp32 = tmp / "enc.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(enc, (torch.from_numpy(x),), str(fp32), opset_version=17, dynamo=False,
                          input_names=["x"], output_names=["y"])
    # ORT's documented pre-processing (its graph optimizer): torch shares the identical layers' weights through
    # Identity nodes, and quantize_dynamic only quantizes a MatMul whose weight is an initializer
    pre = tmp / "enc_pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    q = tmp / "enc_dyn.onnx"
    quantize_dynamic(str(pre), str(q), per_channel=per_channel)
    return pre, q, x


def _timer(fn: Callable[[], object], iters: int) -> Callable[[], float]:
    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        return (time.perf_counter() - t0) / iters * 1e3
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--per-channel", action="store_true")
    args = ap.parse_args()

    import engine
    import export

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        fp32, q, x = _build(tmp, args.d_model, args.heads, args.ffn, args.layers, args.seq, args.per_channel)
        slm_q, slm_f = tmp / "enc_dyn.slm", tmp / "enc.slm"
        export.convert_model(q, slm_q)
        export.convert_model(fp32, slm_f)
        feeds = {"x": x}
        print(f"TransformerEncoder d_model={args.d_model} heads={args.heads} ffn={args.ffn} layers={args.layers} "
              f"seq={args.seq}, quantize_dynamic per_channel={args.per_channel}; "
              f"median of {args.rounds} rounds x {args.iters} runs, ms")
        for threads in args.threads:
            eq = engine.Session(slm_q, threads=threads)
            ef = engine.Session(slm_f, threads=threads)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            oq = ort.InferenceSession(str(q), opts, providers=["CPUExecutionProvider"])
            of = ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
            y_e, y_o = eq.run(None, feeds)[0], oq.run(None, feeds)[0]
            plain = ort.SessionOptions()
            plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            # ORT against itself (its fused kernels vs the graph as written): how far a one-ulp difference in a
            # float activation moves a dynamically quantized model, the yardstick for the engine's difference
            y_plain = ort.InferenceSession(str(q), plain, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            runs = {
                "engine int8": _timer(lambda s=eq: s.run(None, feeds), args.iters),
                "ORT int8": _timer(lambda s=oq: s.run(None, feeds), args.iters),
                "engine fp32": _timer(lambda s=ef: s.run(None, feeds), args.iters),
                "ORT fp32": _timer(lambda s=of: s.run(None, feeds), args.iters),
            }
            for fn in runs.values():  # warm-up
                fn()
            times: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(args.rounds):
                for k, fn in runs.items():
                    times[k].append(fn())
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"threads={threads}: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
            print(f"  engine int8 / ORT int8 = {med['engine int8'] / med['ORT int8']:.2f}, "
                  f"engine int8 / engine fp32 = {med['engine int8'] / med['engine fp32']:.2f}, "
                  f"kernel {eq.isa}")
            d_engine, d_ort = float(np.max(np.abs(y_e - y_o))), float(np.max(np.abs(y_o - y_plain)))
            print(f"  int8 outputs: max |engine - ORT| = {d_engine:.3g}, max |ORT - ORT unoptimized| = {d_ort:.3g}, "
                  f"|y|max = {float(np.max(np.abs(y_o))):.3g}")


if __name__ == "__main__":
    main()
