"""What run-time shapes cost (FORMAT.md "Run-time shapes"): a Loop whose trip count the data decides (a
condition the body computes), followed by three ops that are planned once the scan output's length is known.
For each new length: the first run (it plans the rest of the graph) and the median of 30 more (cached plan).

    .venv/bin/python -m measure.benchmarks.control_flow
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import engine
import export

F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def model() -> object:
    vi = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Add", ["x", "fi"], ["xi"]),
         helper.make_node("Tanh", ["xi"], ["th"]), helper.make_node("Mul", ["acc", "half"], ["ah"]),
         helper.make_node("Add", ["ah", "th"], ["acc_out"]), helper.make_node("Mul", ["acc_out", "fi"], ["scan_out"]),
         helper.make_node("ReduceSum", ["acc_out"], ["tot"], keepdims=0),
         helper.make_node("Less", ["tot", "limit"], ["cond_out"])],
        "body", [vi("i", I64, []), vi("cond_in", BOOL, []), vi("acc", F, [2, 3])],
        [vi("cond_out", BOOL, []), vi("acc_out", F, [2, 3]), vi("scan_out", F, [2, 3])])
    nodes = [helper.make_node("Loop", ["M", "go", "acc0"], ["acc", "scans"], body=body, name="loop"),
             helper.make_node("ReduceSum", ["scans", "ax0"], ["s0"], keepdims=0),
             helper.make_node("Relu", ["s0"], ["r"]), helper.make_node("Add", ["r", "acc"], ["out"])]
    inputs = [vi("x", F, [2, 3]), vi("acc0", F, [2, 3]), vi("M", I64, []), vi("go", BOOL, []), vi("limit", F, [])]
    outputs = [vi("out", F, [2, 3]), vi("scans", F, ["n", 2, 3])]
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "half"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0")]
    m = helper.make_model(helper.make_graph(nodes, "bench", inputs, outputs, inits),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "loop.slm"
    export.convert_model(model(), path)
    sess = engine.Session(path)
    base = {"x": np.zeros((2, 3), np.float32), "acc0": np.zeros((2, 3), np.float32), "M": np.array(1000, np.int64),
            "go": np.array(True), "limit": np.array(0.0, np.float32)}

    def timed(feeds: dict, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            sess.run(None, feeds)
            out.append(time.perf_counter() - t0)
        return out

    sess.run(None, base)
    for k in range(1, 6):
        feeds = {**base, "limit": np.array(3.0 * k, np.float32)}  # a higher limit: more iterations
        first = timed(feeds, 1)[0]
        again = float(np.median(timed(feeds, 30)))
        length = sess.run(None, feeds)[1].shape[0]
        print(f"scan length {length:5d}: first run {first * 1e6:7.0f} us, cached plan {again * 1e6:7.0f} us")


if __name__ == "__main__":
    main()
