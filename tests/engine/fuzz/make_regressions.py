"""The crash regression files of engine/tests/regressions: one small engine file per class of crash the
fuzzer found (or the hostile-file report listed), each a well-formed file (valid sizes and CRCs) whose one
hostile field reached code that trusted it. ctest (fuzz_regressions) and pytest
(tests/engine/test_hardening.py) load, plan and run each one; each must end in a clean EngineError or a
clean run (integer edge cases such as MIN / -1 now wrap instead of trapping).

    .venv/bin/python -m tests.engine.fuzz.make_regressions engine/tests/regressions

Files are built from tiny graphs (slm_builder) so the folder stays a few KB; the README of that folder lists
every file with its field, value, the symptom before the fix and the error now (``--document OLD NEW`` replays
them on two fuzz_model builds and writes it).
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.engine.fuzz import slm_edit
from tests.engine.slm_builder import SlmBuilder

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)


def _conv(**attrs: object) -> bytes:
    """x [1, 8, 8, 8] -> depthwise 3x3 Conv (8 channels, the MobileNetV2 block shape) -> y."""
    sb = SlmBuilder()
    sb.input("x", ["batch", 8, 8, 8])
    sb.constant("w", np.ones((8, 1, 3, 3), np.float32))
    sb.constant("b", np.zeros(8, np.float32))
    sb.node("Conv", ["x", "w", "b"], ["y"], name="conv", **{"group": 8, "pads": [1, 1, 1, 1], **attrs})
    sb.output("y")
    return sb.to_bytes()


def _dense_conv(**attrs: object) -> bytes:
    """x [1, 2, 8, 8] -> dense 3x3 Conv to 4 channels (the im2col path) -> y."""
    sb = SlmBuilder()
    sb.input("x", ["batch", 2, 8, 8])
    sb.constant("w", np.ones((4, 2, 3, 3), np.float32))
    sb.node("Conv", ["x", "w"], ["y"], name="conv", **attrs)
    sb.output("y")
    return sb.to_bytes()


def _unary_graph(op: str, consts: dict[str, np.ndarray], inputs: list[str | None], out_dtype: str = "float32",
                 x_shape: list[int | str] | None = None, x_dtype: str = "float32", **attrs: object) -> bytes:
    """x -> op(x, constants...) -> y: one node fed by the graph input and constants."""
    sb = SlmBuilder()
    sb.input("x", x_shape or [1, 4], x_dtype)
    for name, value in consts.items():
        sb.constant(name, value)
    sb.value("y", dtype=out_dtype)
    sb.node(op, inputs, ["y"], name=op.lower(), **attrs)
    sb.output("y")
    return sb.to_bytes()


def _const_graph(op: str, consts: dict[str, np.ndarray], out_dtype: str, **attrs: object) -> bytes:
    """op(constants...) -> y, evaluated at plan time (folded), plus a graph input so the file is ordinary."""
    sb = SlmBuilder()
    sb.input("x", [1])
    for name, value in consts.items():
        sb.constant(name, value)
    sb.value("y", dtype=out_dtype)
    sb.node(op, list(consts), ["y"], name=op.lower(), **attrs)
    sb.output("y")
    sb.node("Identity", ["x"], ["x2"], name="keep_input")
    sb.output("x2")
    return sb.to_bytes()


def _scalar(data: bytes, *names: str) -> bytes:
    """Constants `names` as rank 0 (slm_builder writes a 0-d array as shape [1])."""
    f = slm_edit.parse(data)
    for t in f.tensors:
        if t.name in names:
            t.dims, t.dim_names = [], []
    return f.to_bytes()


def _gemm_reads_declared_float() -> bytes:
    """Cast to bool whose output is declared float32; Gemm (which takes its A's dtype on trust) reads the
    256-byte bool buffer as 256 floats."""
    sb = SlmBuilder()
    sb.input("x", [1, 256])
    sb.value("c", [1, 256], "float32")
    sb.node("Cast", ["x"], ["c"], name="cast", to=9)
    sb.constant("B", np.ones((256, 1), np.float32))
    sb.node("Gemm", ["c", "B"], ["y"], name="gemm")
    sb.output("y")
    return sb.to_bytes()


def _split_overflow() -> bytes:
    sb = SlmBuilder()
    sb.input("x", [1, 4])
    sb.constant("split", np.array([I64_MAX, 1], np.int64))
    sb.node("Split", ["x", "split"], ["y0", "y1"], name="split", axis=1)
    sb.output("y0")
    sb.output("y1")
    return sb.to_bytes()


def _omit_input(data: bytes, node: str, index: int) -> bytes:
    f = slm_edit.parse(data)
    n = next(n for n in f.nodes if n.name == node)
    n.inputs[index] = -1
    return f.to_bytes()


def _pool3d(**attrs: object) -> bytes:
    sb = SlmBuilder()
    sb.input("x", [1, 1, 4, 4, 4])
    sb.node("MaxPool", ["x"], ["y"], name="maxpool", **attrs)
    sb.output("y")
    return sb.to_bytes()


big = [2**21, 2**21, 2**21]
i64 = np.int64
CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    # name: (field = value, builder)
    "conv_group_2e31": ("Conv group = 2^31 (depthwise, 8 channels)", lambda: _conv(group=2**31)),
    "conv_group_int64max": ("Conv group = 2^63-1", lambda: _conv(group=I64_MAX)),
    "conv_group_65535": ("Conv group = 65535", lambda: _conv(group=65535)),
    "conv_group_twice_channels": ("Conv group = 16 (twice the channels)", lambda: _conv(group=16)),
    "conv_pads_65535_strides_65535": ("Conv pads = 65535, strides = 65535 (pad > kernel, small output)",
                                      lambda: _dense_conv(pads=[65535] * 4, strides=[65535, 65535])),
    "conv_pads_65535": ("Conv pads = 65535 (an output of 131074 x 131074)", lambda: _conv(pads=[65535] * 4)),
    "conv_dilations_2e62": ("Conv dilations = [2^62, 1]", lambda: _conv(dilations=[2**62, 1])),
    "conv_strides_2e62": ("Conv strides = [2^62, 2^62]", lambda: _dense_conv(strides=[2**62, 2**62])),
    "reshape_shape_overflow": ("Reshape shape = [2^62, 4, -1] (constant)", lambda: _unary_graph(
        "Reshape", {"shape": np.array([2**62, 4, -1], i64)}, ["x", "shape"])),
    "split_sizes_overflow": ("Split split = [2^63-1, 1] (constant)", _split_overflow),
    "gather_scalar_data": ("Gather data of rank 0", lambda: _scalar(_unary_graph(
        "Gather", {"d": np.array([1.0], np.float32), "i": np.array([0], i64)}, ["d", "i"]), "d")),
    "concat_scalars": ("Concat of rank-0 tensors, axis = 0", lambda: _scalar(_unary_graph(
        "Concat", {"a": np.array([1.0], np.float32)}, ["a", "a"], axis=0), "a")),
    "dropout_training_mode_int": ("Dropout training_mode = int64 constant 37", lambda: _unary_graph(
        "Dropout", {"r": np.array(0.5, np.float32), "t": np.array(37, i64)}, ["x", "r", "t"])),
    "gemm_c_rank3": ("Gemm C of shape [2, 1, 3] (broadcasts past [M, N])", lambda: _unary_graph(
        "Gemm", {"B": np.ones((4, 3), np.float32), "C": np.ones((2, 1, 3), np.float32)}, ["x", "B", "C"])),
    "matmul_b_bool": ("MatMul B of dtype bool", lambda: _unary_graph(
        "MatMul", {"B": np.ones((4, 64), np.bool_)}, ["x", "B"])),
    "prelu_slope_omitted": ("PRelu slope index = -1 (omitted)", lambda: _omit_input(_unary_graph(
        "PRelu", {"s": np.ones(4, np.float32)}, ["x", "s"]), "prelu", 1)),
    "prelu_slope_bool": ("PRelu slope of dtype bool", lambda: _unary_graph(
        "PRelu", {"s": np.ones((1, 1), np.bool_)}, ["x", "s"], x_shape=[64, 64])),
    "conv_transpose_output_shape_1": ("ConvTranspose output_shape = [5] (one value)", lambda: _unary_graph(
        "ConvTranspose", {"w": np.ones((4, 2, 3, 3), np.float32)}, ["x", "w"], x_shape=[1, 4, 4, 4],
        output_shape=[5])),
    "conv_transpose_bias_short": ("ConvTranspose bias of 1 value for 2 output channels", lambda: _unary_graph(
        "ConvTranspose", {"w": np.ones((4, 2, 3, 3), np.float32), "b": np.ones(1, np.float32)}, ["x", "w", "b"],
        x_shape=[1, 4, 4, 4])),
    "div_int64_min_by_minus1": ("Div int64 MIN / -1 (folded constants)", lambda: _const_graph(
        "Div", {"a": np.array([I64_MIN], i64), "b": np.array([-1], i64)}, "int64")),
    "mod_int64_min_by_minus1": ("Mod int64 MIN % -1", lambda: _const_graph(
        "Mod", {"a": np.array([I64_MIN], i64), "b": np.array([-1], i64)}, "int64")),
    "add_int64_overflow": ("Add int64 (2^63-1) + 1", lambda: _const_graph(
        "Add", {"a": np.array([I64_MAX], i64), "b": np.array([1], i64)}, "int64")),
    "slice_step_int64min": ("Slice steps = [-2^63]", lambda: _unary_graph(
        "Slice", {"s": np.array([3], i64), "e": np.array([0], i64), "a": np.array([1], i64),
                  "st": np.array([I64_MIN], i64)}, ["x", "s", "e", "a", "st"])),
    "slice_step_int64max": ("Slice steps = [2^63-1]", lambda: _unary_graph(
        "Slice", {"s": np.array([0], i64), "e": np.array([4], i64), "a": np.array([1], i64),
                  "st": np.array([I64_MAX], i64)}, ["x", "s", "e", "a", "st"])),
    "tile_repeats_2e62": ("Tile repeats = [2^62, 4] of a [4, 4] input", lambda: _unary_graph(
        "Tile", {"r": np.array([2**62, 4], i64)}, ["x", "r"], x_shape=[4, 4])),
    "pad_pads_int64max": ("Pad pads = [0, 2^63-1, 0, 1]", lambda: _unary_graph(
        "Pad", {"p": np.array([0, I64_MAX, 0, 1], i64)}, ["x", "p"])),
    "depth_to_space_blocksize_2e32": ("DepthToSpace blocksize = 2^32 (its square wraps to 0)", lambda: _unary_graph(
        "DepthToSpace", {}, ["x"], x_shape=[1, 4, 2, 2], blocksize=2**32)),
    "space_to_depth_blocksize_2e31": ("SpaceToDepth blocksize = 2^31 on a 0-sized image", lambda: _unary_graph(
        "SpaceToDepth", {"d": np.zeros((1, 4, 0, 0), np.float32)}, ["d"], blocksize=2**31)),
    "constant_of_shape_512gib": ("ConstantOfShape shape = [2^18, 2^18, 2] (512 GiB of float32)", lambda: _const_graph(
        "ConstantOfShape", {"shape": np.array([2**18, 2**18, 2], i64)}, "float32")),
    "range_limit_inf": ("Range limit = +inf", lambda: _const_graph(
        "Range", {"s": np.array(0.0, np.float32), "l": np.array(np.inf, np.float32),
                  "d": np.array(1.0, np.float32)}, "float32")),
    "resize_scales_inf": ("Resize scales = [1, 1, inf, inf]", lambda: _unary_graph(
        "Resize", {"roi": np.zeros(0, np.float32), "sc": np.array([1, 1, np.inf, np.inf], np.float32)},
        ["x", "roi", "sc"], x_shape=[1, 1, 2, 2])),
    "resize_empty_axis": ("Resize sizes = [1, 1, 4, 4] of an input with a 0-sized axis", lambda: _unary_graph(
        "Resize", {"d": np.zeros((1, 1, 0, 2), np.float32), "roi": np.zeros(0, np.float32),
                   "sc": np.zeros(0, np.float32), "sz": np.array([1, 1, 4, 4], i64)}, ["d", "roi", "sc", "sz"])),
    "instance_norm_scale_bool": ("InstanceNormalization scale of dtype bool", lambda: _unary_graph(
        "InstanceNormalization", {"s": np.ones(64, np.bool_), "b": np.zeros(64, np.float32)}, ["x", "s", "b"],
        x_shape=[1, 64, 64])),
    "layer_norm_scale_bool": ("LayerNormalization scale of dtype bool", lambda: _unary_graph(
        "LayerNormalization", {"s": np.ones(256, np.bool_)}, ["x", "s"], x_shape=[4, 256])),
    "maxpool_3d_kernel_2e21": ("MaxPool (3-D) kernel_shape = strides = 2^21, pads = 2^21 - 1 (a 2^63-tap window)",
                               lambda: _pool3d(kernel_shape=big, strides=big, pads=[2**21 - 1] * 6)),
    "cast_declared_float": ("Cast to bool whose output is declared float32, read by Gemm as floats",
                            _gemm_reads_declared_float),
}


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (_, build) in CASES.items():
        path = out_dir / f"{name}.slm"
        path.write_bytes(build())
        paths.append(path)
    return paths


def replay(binary: Path, path: Path) -> str:
    """One file on one fuzz_model build: the first line of a sanitizer report or signal, else its outcome."""
    r = subprocess.run([str(binary), "--replay", str(path), "--timeout", "20"], capture_output=True, text=True,
                       check=False)
    text = r.stdout + r.stderr
    if r.returncode == 0:
        line = next((ln for ln in r.stdout.splitlines() if str(path) in ln), "")
        return "error: " + line.split(": ", 2)[-1] if "rejected" in line else "ran"
    for pattern in (r"runtime error: [^\n]*", r"AddressSanitizer: [^\n(]*", r"HANG[^\n]*", r"CRASH: [^\n]*",
                    r"(SEGV|FPE|ABRT)[^\n]*"):
        m = re.search(pattern, text)
        if m:
            loc = re.search(r"(src/[\w/]+\.(?:cpp|h):\d+)", text)
            what = re.sub(r" on address 0x[0-9a-f]+.*", "", m.group(0))[:160].strip()
            return what + (f" ({loc.group(1)})" if loc else "")
    return f"exit {r.returncode}"


def document(out_dir: Path, old: Path, new: Path) -> str:
    rows = ["| file | field = value | before (HEAD 6462311, ASan + UBSan) | now |", "|---|---|---|---|"]
    for name, (field, _) in CASES.items():
        path = out_dir / f"{name}.slm"
        before, now = replay(old, path), replay(new, path)
        rows.append(f"| {name}.slm | {field} | {before.replace('|', '/')} | {now.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


README_HEAD = """# Crash regressions

One small engine file per class of crash that the structure-aware fuzzer (engine/tests/fuzz) found in the
loader, planner and ops, or that the hostile-file report listed. Each is well-formed (valid sizes and CRCs);
one field holds a hostile value. ctest's `fuzz_regressions` (`fuzz_model --replay` under ASan + UBSan) and
pytest's `tests/engine/test_hardening.py` load, plan and run every file here: each must end in a clean error
or a clean run, never a signal or a sanitizer report.

The files are generated by `tests/engine/fuzz/make_regressions.py` (tiny graphs, so the folder stays small);
the table below is its `--document` replay of each file on the engine before the hardening (HEAD 6462311)
and now, both built with ASan + UBSan. "ran" before means the value got through unchecked (an out-of-bounds
read that stayed inside a mapped buffer, or undefined behaviour that happened to be harmless); "error" before
means HEAD already refused that exact value.

"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--document", nargs=2, type=Path, metavar=("OLD_FUZZ_MODEL", "NEW_FUZZ_MODEL"),
                        help="write OUT_DIR/README.md with the table of replays on two builds")
    args = parser.parse_args(argv)
    for p in write(args.out_dir):
        print(p, p.stat().st_size, "bytes")
    if args.document:
        (args.out_dir / "README.md").write_text(README_HEAD + document(args.out_dir, *args.document))


if __name__ == "__main__":
    main()
