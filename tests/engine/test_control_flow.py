"""If, Loop and Scan (engine/src/ops/control_flow.cpp): graph attributes in the engine file, their
conversion, plan-time and run-time output shapes, refusals of bad control flow; against onnxruntime
at every ISA with 1 and 2 threads."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import engine
import export
from export import ir
from export.engine_file import load_engine_file_summary, serialize
from tests.engine.onnx_cases import ort_run

F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
_NP = {np.dtype("float32"): F, np.dtype("int64"): I64, np.dtype("bool"): BOOL}


def _vi(name: str, dtype: int, shape: list | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _model(nodes: list, feeds: dict[str, np.ndarray], outputs: dict[str, tuple[int, list]],
           inits: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    inputs = [_vi(k, _NP[v.dtype], list(v.shape)) for k, v in feeds.items()]
    outs = [_vi(k, t, s) for k, (t, s) in outputs.items()]
    g = helper.make_graph(nodes, "g", inputs, outs, [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _check(model: onnx.ModelProto, feed_sets: list[dict[str, np.ndarray]], tmp: Path, *,
           optimize: bool = False, rtol: float = 1e-4, atol: float = 1e-5) -> int:
    """Converts once; every feed set through one session per ISA and thread count, against onnxruntime.
    Returns how many runs were compared."""
    path = tmp / "m.slm"
    export.convert_model(model, path, optimize=optimize)
    runs = 0
    for isa in engine.available_isas():
        for threads in (1, 2):
            sess = engine.Session(path, threads=threads, isa=isa)
            for feeds in feed_sets:
                expected = ort_run(model, feeds)
                got = sess.run(None, feeds)
                assert len(got) == len(expected)
                for g, e in zip(got, expected):
                    assert g.shape == e.shape and g.dtype == e.dtype, (isa, threads, g.shape, e.shape, g.dtype)
                    if e.dtype.kind == "f":
                        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"{isa} threads={threads}")
                    else:
                        np.testing.assert_array_equal(g, e, err_msg=f"{isa} threads={threads}")
                runs += 1
    return runs


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- If ----------------------------------------------------------------------------------------

def _if_model(then_shape: list, else_nodes: list, else_out: str, else_shape: list) -> onnx.ModelProto:
    """cond = sum(x) > 0; then: x + x (captures x); else: `else_nodes`; then Relu after the If."""
    then_g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["t"])], "then", [], [_vi("t", F, then_shape)])
    else_g = helper.make_graph(else_nodes, "else", [], [_vi(else_out, F, else_shape)])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="branch"),
             helper.make_node("Relu", ["y"], ["z"])]
    x = np.zeros((2, 3), np.float32)
    return _model(nodes, {"x": x}, {"z": (F, [None, None])}, {"zero": np.array(0, np.float32)})


def test_if_runs_the_branch_the_data_selects(tmp_path: Path) -> None:
    model = _if_model([2, 3], [helper.make_node("Mul", ["x", "x"], ["e"])], "e", [2, 3])
    x = _rng().standard_normal((2, 3)).astype(np.float32)
    assert _check(model, [{"x": np.abs(x)}, {"x": -np.abs(x)}], tmp_path) > 0


def test_if_branches_with_different_shapes_are_planned_at_run_time(tmp_path: Path) -> None:
    # then [2, 3], else [3, 2]: the If's output is dynamic and the Relu after it is planned per shape
    model = _if_model([2, 3], [helper.make_node("Reshape", ["x", "flat"], ["e"])], "e", [3, 2])
    model.graph.initializer.append(numpy_helper.from_array(np.array([3, 2], np.int64), "flat"))
    x = _rng(1).standard_normal((2, 3)).astype(np.float32)
    assert _check(model, [{"x": np.abs(x)}, {"x": -np.abs(x)}, {"x": np.abs(x)}], tmp_path) > 0


def test_if_with_a_known_condition_plans_only_its_branch(tmp_path: Path) -> None:
    # the else branch adds a [3] to the [4] x: it cannot be planned, and is not
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [_vi("t", F, [4])])
    else_g = helper.make_graph([helper.make_node("Add", ["x", "w3"], ["e"])], "else", [], [_vi("e", F, [4])])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g, name="known_if")
    x = np.arange(4, dtype=np.float32)
    inits = {"cond": np.array(True), "w3": np.ones(3, np.float32)}
    path = tmp_path / "m.slm"
    export.convert_model(_model([node], {"x": x}, {"y": (F, [4])}, inits), path)
    for isa in engine.available_isas():
        np.testing.assert_array_equal(engine.Session(path, isa=isa).run(None, {"x": x})[0], -x)
    export.convert_model(_model([node], {"x": x}, {"y": (F, [4])}, {**inits, "cond": np.array(False)}), path)
    with pytest.raises(engine.EngineError, match="known_if"):
        engine.Session(path).run(None, {"x": x})


# ---- Loop --------------------------------------------------------------------------------------

def _loop_body(with_break: bool = False) -> onnx.GraphProto:
    """acc' = acc * 0.5 + tanh(x + i) (x captured); scan out: acc' * i; with_break: cond' = sum(acc') < 8."""
    nodes = [helper.make_node("Cast", ["i"], ["fi"], to=F),
             helper.make_node("Add", ["x", "fi"], ["xi"]),
             helper.make_node("Tanh", ["xi"], ["th"]),
             helper.make_node("Mul", ["acc", "half"], ["ah"]),
             helper.make_node("Add", ["ah", "th"], ["acc_out"]),
             helper.make_node("Mul", ["acc_out", "fi"], ["scan_out"])]
    if with_break:
        nodes += [helper.make_node("ReduceSum", ["acc_out"], ["tot"], keepdims=0),
                  helper.make_node("Less", ["tot", "limit"], ["cond_out"])]
    else:
        nodes += [helper.make_node("Identity", ["cond_in"], ["cond_out"])]
    return helper.make_graph(
        nodes, "body",
        [_vi("i", I64, []), _vi("cond_in", BOOL, []), _vi("acc", F, [2, 3])],
        [_vi("cond_out", BOOL, []), _vi("acc_out", F, [2, 3]), _vi("scan_out", F, [2, 3])])


def _loop_inits() -> dict[str, np.ndarray]:
    return {"half": np.array(0.5, np.float32), "limit": np.array(8.0, np.float32)}


def test_loop_with_a_known_trip_count(tmp_path: Path) -> None:
    # loop-carried state, a scan output concatenated along axis 0, outer-scope capture (x, half)
    node = helper.make_node("Loop", ["M", "", "acc0"], ["acc", "scans"], body=_loop_body(), name="loop")
    feeds = {"x": _rng(2).standard_normal((2, 3)).astype(np.float32),
             "acc0": _rng(3).standard_normal((2, 3)).astype(np.float32)}
    model = _model([node, helper.make_node("ReduceSum", ["scans"], ["total"], keepdims=0)], feeds,
                   {"acc": (F, [2, 3]), "scans": (F, [4, 2, 3]), "total": (F, [])},
                   {**_loop_inits(), "M": np.array(4, np.int64)})
    assert _check(model, [feeds], tmp_path) > 0


@pytest.mark.parametrize("with_break", [False, True])
def test_loop_with_a_run_time_trip_count(tmp_path: Path, with_break: bool) -> None:
    # M fed at run time (and, with_break, a condition the body computes): the scan output's length is known
    # only at run time; the ops after the Loop are planned once it is (and again for a new length)
    node = helper.make_node("Loop", ["M", "go", "acc0"], ["acc", "scans"], body=_loop_body(with_break), name="loop")
    after = [helper.make_node("ReduceSum", ["scans"], ["s0"], axes=None, keepdims=0),
             helper.make_node("Shape", ["scans"], ["n"])]
    after[0] = helper.make_node("ReduceSum", ["scans", "ax0"], ["s0"], keepdims=0)
    base = {"x": _rng(4).standard_normal((2, 3)).astype(np.float32) + 1.0,
            "acc0": _rng(5).standard_normal((2, 3)).astype(np.float32), "M": np.array(3, np.int64),
            "go": np.array(True)}
    model = _model([node, *after], base, {"acc": (F, [2, 3]), "scans": (F, ["n", 2, 3]), "s0": (F, [2, 3]),
                                          "n": (I64, [3])},
                   {**_loop_inits(), "ax0": np.array([0], np.int64)})
    feed_sets = [{**base, "M": np.array(m, np.int64)} for m in (3, 7, 0, 3, 100)]
    feed_sets.append({**base, "go": np.array(False)})
    assert _check(model, feed_sets, tmp_path) > 0


def test_nested_loop_in_if_reads_values_from_two_levels_up(tmp_path: Path) -> None:
    # If(cond) { Loop(M) { acc + x * w } } with x from the model and w a constant of the If's own graph level
    inner = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["xw"]), helper.make_node("Add", ["acc", "xw"], ["acc_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "inner", [_vi("i", I64, []), _vi("cond_in", BOOL, []), _vi("acc", F, [3])],
        [_vi("cond_out", BOOL, []), _vi("acc_out", F, [3])])
    then_g = helper.make_graph(
        [helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(np.array([1, 2, 3], np.float32))),
         helper.make_node("Loop", ["M", "", "x"], ["t"], body=inner, name="inner_loop")],
        "then", [], [_vi("t", F, [3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [_vi("e", F, [3])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="outer_if")
    feeds = {"x": np.array([0.5, -1.0, 2.0], np.float32), "c": np.array(True), "M": np.array(3, np.int64)}
    model = _model([node], feeds, {"y": (F, [3])})
    assert _check(model, [feeds, {**feeds, "c": np.array(False)}, {**feeds, "M": np.array(5, np.int64)}],
                  tmp_path) > 0


def test_loop_inside_loop(tmp_path: Path) -> None:
    # an outer loop whose body runs an inner loop over the outer's state; both scan
    inner = helper.make_graph(
        [helper.make_node("Add", ["a", "step"], ["a_out"]), helper.make_node("Identity", ["ci"], ["co"]),
         helper.make_node("Identity", ["a_out"], ["a_scan"])],
        "inner", [_vi("j", I64, []), _vi("ci", BOOL, []), _vi("a", F, [2])],
        [_vi("co", BOOL, []), _vi("a_out", F, [2]), _vi("a_scan", F, [2])])
    outer = helper.make_graph(
        [helper.make_node("Loop", ["N", "", "s"], ["s_in", "inner_scan"], body=inner, name="inner"),
         helper.make_node("Mul", ["s_in", "s_in"], ["s_out"]),
         helper.make_node("ReduceSum", ["inner_scan", "ax"], ["red"], keepdims=0),
         helper.make_node("Identity", ["c"], ["c_out"])],
        "outer", [_vi("i", I64, []), _vi("c", BOOL, []), _vi("s", F, [2])],
        [_vi("c_out", BOOL, []), _vi("s_out", F, [2]), _vi("red", F, [2])])
    node = helper.make_node("Loop", ["M", "", "s0"], ["s_final", "reds"], body=outer, name="outer")
    feeds = {"s0": np.array([0.1, -0.2], np.float32), "step": np.array([0.25, 0.5], np.float32)}
    model = _model([node], feeds, {"s_final": (F, [2]), "reds": (F, [3, 2])},
                   {"M": np.array(3, np.int64), "N": np.array(2, np.int64), "ax": np.array([0], np.int64)})
    assert _check(model, [feeds], tmp_path) > 0


def test_onnx_loop_example_slices_by_the_iteration_number(tmp_path: Path) -> None:
    # ONNX's own example (test_loop11): the body slices with the iteration number; each iteration is planned
    # by its number
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = next(c for c in collect_testcases(None) if c.name == "test_loop11")
    inputs, outputs = case.data_sets[0]
    feeds = {i.name: np.asarray(v) for i, v in zip(case.model.graph.input, inputs)}
    path = tmp_path / "loop11.slm"
    export.convert_model(case.model, path)
    for isa in engine.available_isas():
        got = engine.Session(path, isa=isa, threads=2).run(None, feeds)
        for g, e in zip(got, outputs):
            np.testing.assert_allclose(g, e, rtol=1e-6)


# ---- Scan --------------------------------------------------------------------------------------

def test_scan_axes_and_directions(tmp_path: Path) -> None:
    # running sum over axis 1 of x, read backwards; the scan output is stacked along axis 1, reversed
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "xt"], ["s_out"]), helper.make_node("Mul", ["s_out", "k"], ["y_t"])],
        "body", [_vi("s", F, [2]), _vi("xt", F, [2])], [_vi("s_out", F, [2]), _vi("y_t", F, [2])])
    node = helper.make_node("Scan", ["s0", "x"], ["s", "y"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1],
                            scan_output_directions=[1], name="scan")
    feeds = {"s0": np.zeros(2, np.float32), "x": _rng(6).standard_normal((2, 5)).astype(np.float32),
             "k": np.array([2.0, -1.0], np.float32)}
    model = _model([node], feeds, {"s": (F, [2]), "y": (F, [2, 5])})
    assert _check(model, [feeds, {**feeds, "x": np.ones((2, 5), np.float32)}], tmp_path) > 0


def test_scan_default_axes(tmp_path: Path) -> None:
    body = helper.make_graph(
        [helper.make_node("Max", ["m", "row"], ["m_out"]), helper.make_node("Sub", ["row", "m_out"], ["d"])],
        "body", [_vi("m", F, [4]), _vi("row", F, [4])], [_vi("m_out", F, [4]), _vi("d", F, [4])])
    node = helper.make_node("Scan", ["m0", "x"], ["m", "d"], body=body, num_scan_inputs=1, name="scan")
    feeds = {"m0": np.full(4, -np.inf, np.float32), "x": _rng(7).standard_normal((6, 4)).astype(np.float32)}
    model = _model([node], feeds, {"m": (F, [4]), "d": (F, [6, 4])})
    assert _check(model, [feeds], tmp_path) > 0


# ---- the converter's passes around subgraphs --------------------------------------------------

def test_passes_keep_what_subgraphs_read(tmp_path: Path) -> None:
    # a = Identity(x) read only by the branches (identity elimination renames it: the capture must follow);
    # b = Mul(x, 2) twice (CSE merges them: the branch reads the survivor); a constant chain folds to a value
    # only the else branch reads (folding keeps it, dead-node elimination keeps the producers)
    then_g = helper.make_graph([helper.make_node("Add", ["a", "b2"], ["t"])], "then", [], [_vi("t", F, [3])])
    else_g = helper.make_graph([helper.make_node("Sub", ["a", "k2"], ["e"])], "else", [], [_vi("e", F, [3])])
    nodes = [helper.make_node("Identity", ["x"], ["a"]),
             helper.make_node("Mul", ["x", "two"], ["b1"]),
             helper.make_node("Mul", ["x", "two"], ["b2"]),
             helper.make_node("Add", ["k", "k"], ["k2"]),
             helper.make_node("ReduceSum", ["b1"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="branch")]
    feeds = {"x": np.array([1.0, 2.0, -0.5], np.float32)}
    inits = {"two": np.array(2.0, np.float32), "k": np.array([1.0, 2.0, 3.0], np.float32),
             "zero": np.array(0.0, np.float32)}
    model = _model(nodes, feeds, {"y": (F, [3])}, inits)
    assert _check(model, [feeds, {"x": -feeds["x"]}], tmp_path, optimize=True) > 0
    summary = load_engine_file_summary(tmp_path / "m.slm")
    assert summary.op_counts().get("Identity", 0) == 0  # the pass ran and renamed the capture
    assert summary.op_counts()["Mul"] == 1  # CSE merged the two Muls


# ---- refusals ----------------------------------------------------------------------------------

def _ir_graph(nodes: list[ir.Node], values: list[ir.Value], inputs: list[str], outputs: list[str]) -> ir.Graph:
    return ir.Graph({v.name: v for v in values}, nodes, inputs, outputs)


def _branch(op: str, out: str, dtype: int = F, extra: list[ir.Node] | None = None) -> ir.Graph:
    nodes = [ir.Node(op, f"{op.lower()}_{out}", ["x"], [out])] + (extra or [])
    values = [ir.Value(out, dtype, [2])] + [ir.Value(o, dtype, [2]) for n in extra or [] for o in n.outputs]
    return _ir_graph(nodes, values, [], [out] + [o for n in extra or [] for o in n.outputs])


def _if_file(then_g: ir.Graph, else_g: ir.Graph, outs: int = 1, out_dtype: int = F) -> bytes:
    names = [f"y{k}" for k in range(outs)]
    node = ir.Node("If", "bad_if", ["c"], names, {"then_branch": then_g, "else_branch": else_g})
    values = [ir.Value("x", F, [2]), ir.Value("c", BOOL, [])] + [ir.Value(n, out_dtype, [2]) for n in names]
    return serialize(_ir_graph([node], values, ["x", "c"], names))


def test_if_branches_must_agree_on_output_count_and_dtype() -> None:
    two = _branch("Neg", "a", extra=[ir.Node("Abs", "abs_b", ["x"], ["b"])])
    with pytest.raises(engine.EngineError, match=r"node 'bad_if' \(If\): then_branch has 1 outputs and else_branch 2"):
        engine.Session(_if_file(_branch("Relu", "t"), two))
    cast = _branch("Relu", "r", extra=[])
    cast.nodes.append(ir.Node("Cast", "to_int", ["r"], ["ri"], {"to": I64}))
    cast.values["ri"] = ir.Value("ri", I64, [2])
    cast.outputs = ["ri"]
    with pytest.raises(engine.EngineError, match=r"node 'bad_if' \(If\): branches disagree on the dtype of output 0"):
        engine.Session(_if_file(_branch("Neg", "t"), cast))


def _loop_file(m: np.ndarray | None, cond: np.ndarray | None, body_outputs: int = 3, scan: bool = True) -> bytes:
    body_nodes = [ir.Node("Identity", "keep_cond", ["ci"], ["co"]), ir.Node("Add", "add", ["a", "x"], ["ao"]),
                  ir.Node("Neg", "neg", ["ao"], ["so"])]
    body_values = [ir.Value("i", I64, []), ir.Value("ci", BOOL, []), ir.Value("a", F, [2]),
                   ir.Value("co", BOOL, []), ir.Value("ao", F, [2]), ir.Value("so", F, [2])]
    body = _ir_graph(body_nodes, body_values, ["i", "ci", "a"], ["co", "ao", "so"][:body_outputs - (not scan)])
    values = [ir.Value("x", F, [2]), ir.Value("y", F, [2]), ir.Value("scan", F, [None, 2])]
    inputs = ["x"]
    for name, v in (("M", m), ("cond", cond)):
        if v is not None:
            values.append(ir.Value(name, ir.dtype_of_numpy(v.dtype), [], v))
    outs = ["y", "scan"] if scan else ["y"]
    node = ir.Node("Loop", "bad_loop", ["M" if m is not None else "", "cond" if cond is not None else "", "x"],
                   outs, {"body": body})
    return serialize(_ir_graph([node], values, inputs, outs))


def test_loop_refusals_name_the_node() -> None:
    x = {"x": np.ones(2, np.float32)}
    assert engine.Session(_loop_file(np.array(2, np.int64), None)).run(None, x)[1].shape == (2, 2)
    with pytest.raises(engine.EngineError, match=r"node 'bad_loop' \(Loop\): trip count M is -3, negative"):
        engine.Session(_loop_file(np.array(-3, np.int64), None)).run(None, x)
    with pytest.raises(engine.EngineError, match=r"node 'bad_loop' \(Loop\): condition must be bool, is int64"):
        engine.Session(_loop_file(np.array(2, np.int64), np.array(1, np.int64)))
    with pytest.raises(engine.EngineError, match=r"node 'bad_loop' \(Loop\): body has 2 outputs, expected 3"):
        engine.Session(_loop_file(np.array(2, np.int64), None, body_outputs=2))
    with pytest.raises(engine.EngineError, match=r"node 'bad_loop' \(Loop\): loop without a trip count never ends"):
        engine.Session(_loop_file(None, None)).run(None, x)


def test_negative_trip_count_fed_at_run_time_is_refused(tmp_path: Path) -> None:
    node = helper.make_node("Loop", ["M", "", "acc0"], ["acc", "scans"], body=_loop_body(), name="runtime_m")
    feeds = {"x": np.ones((2, 3), np.float32), "acc0": np.zeros((2, 3), np.float32), "M": np.array(2, np.int64)}
    model = _model([node], feeds, {"acc": (F, [2, 3]), "scans": (F, ["n", 2, 3])}, _loop_inits())
    path = tmp_path / "m.slm"
    export.convert_model(model, path)
    sess = engine.Session(path)
    # 2 elements or fewer: M is planned by value; the plan refuses it
    with pytest.raises(engine.EngineError, match=r"node 'runtime_m' \(Loop\): trip count M is -1, negative"):
        sess.run(None, {**feeds, "M": np.array(-1, np.int64)})
    assert sess.run(None, feeds)[1].shape == (2, 2, 3)  # the session still works


def test_a_capture_of_an_unknown_name_is_refused_at_load() -> None:
    then_g = _branch("Relu", "t")
    then_g.nodes[0].inputs = ["capturedvalue"]
    node = ir.Node("If", "capturing_if", ["c"], ["y"], {"then_branch": then_g, "else_branch": _branch("Neg", "e")})
    values = [ir.Value("x", F, [2]), ir.Value("c", BOOL, []), ir.Value("y", F, [2]), ir.Value("capturedvalue", F, [2])]
    graph = _ir_graph([ir.Node("Abs", "abs", ["x"], ["capturedvalue"]), node], values, ["x", "c"], ["y"])
    data = bytearray(serialize(graph))
    got = engine.Session(bytes(data)).run(None, {"x": -np.ones(2, np.float32), "c": np.array(True)})[0]
    assert got.tolist() == [1, 1]
    # rename the branch's capture (its second occurrence in the file) so that it names nothing outside
    second = data.index(b"capturedvalue", data.index(b"capturedvalue") + 1)
    data[second:second + 13] = b"capturedvaluX"
    graph_size = struct.unpack_from("<Q", data, 32)[0]
    struct.pack_into("<I", data, 56, zlib.crc32(bytes(data[64:64 + graph_size])))
    with pytest.raises(engine.EngineError, match=r"node 1 'capturing_if' \(If\) attribute 'then_branch': the "
                                                 r"subgraph reads 'capturedvaluX', which the enclosing graph "
                                                 r"does not define"):
        engine.Session(bytes(data))


def test_old_files_without_subgraphs_are_unchanged(tmp_path: Path) -> None:
    # a graph without control flow is written byte for byte as before (format 1.0, no new field)
    x = ir.Value("x", F, [2])
    graph = _ir_graph([ir.Node("Relu", "r", ["x"], ["y"])], [x, ir.Value("y", F, [2])], ["x"], ["y"])
    data = serialize(graph)
    assert struct.unpack_from("<HH", data, 8) == (1, 0)
    assert engine.Session(data).run(None, {"x": np.array([-1, 2], np.float32)})[0].tolist() == [0, 2]


# ---- a torch model with control flow ----------------------------------------------------------

def test_torch_scripted_loops_match_onnxruntime(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
            h = x
            for i in range(int(steps)):  # trip count fed at run time
                h = torch.tanh(self.lin(h)) + h * 0.5 + float(i) * 0.01
            while bool(h.abs().sum() < 40.0):  # data-dependent condition
                h = h * 1.5 + 0.1
            return h

    torch.manual_seed(0)
    scripted = torch.jit.script(Decoder().eval())
    x, steps = torch.randn(2, 4), torch.tensor(3)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(scripted, (x, steps), buf, dynamo=False, opset_version=17, input_names=["x", "steps"],
                          output_names=["h"], dynamic_axes={"x": {0: "batch"}})
    model = onnx.load_from_string(buf.getvalue())
    assert {n.op_type for n in model.graph.node} & {"Loop"}
    feeds = [{"x": np.asarray(torch.randn(b, 4)), "steps": np.array(s, np.int64)} for b, s in ((2, 3), (3, 0), (1, 6))]
    for optimize in (False, True):
        assert _check(model, feeds, tmp_path, optimize=optimize, rtol=1e-4, atol=1e-4) > 0


def test_loop_state_that_grows_each_iteration(tmp_path: Path) -> None:
    # acc' = Concat(acc, x * i) along axis 0: the carried value changes shape, so the Loop's outputs are
    # dynamic even with a known trip count, and the body is planned for each new shape
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("Concat", ["acc", "xi"], ["acc_out"], axis=0),
         helper.make_node("ReduceSum", ["acc_out"], ["tot"], keepdims=0),
         helper.make_node("Identity", ["c"], ["c_out"])],
        "body", [_vi("i", I64, []), _vi("c", BOOL, []), _vi("acc", F, [None, 2])],
        [_vi("c_out", BOOL, []), _vi("acc_out", F, [None, 2]), _vi("tot", F, [])])
    node = helper.make_node("Loop", ["M", "", "acc0"], ["acc", "tots"], body=body, name="grow")
    feeds = {"x": np.array([[1.0, -2.0]], np.float32), "acc0": np.ones((1, 2), np.float32),
             "M": np.array(5, np.int64)}
    model = _model([node, helper.make_node("Relu", ["acc"], ["r"])], feeds,
                   {"r": (F, [None, 2]), "tots": (F, [None])})
    assert _check(model, [feeds, {**feeds, "M": np.array(2, np.int64)}, feeds], tmp_path) > 0


def test_a_hostile_trip_count_is_refused_not_run_for_ever() -> None:
    # 2^62 iterations of a body that never ends the loop: the engine stops at its limit (FORMAT.md)
    x = {"x": np.ones(2, np.float32)}
    with pytest.raises(engine.EngineError, match=r"node 'bad_loop' \(Loop\): runs more than 1048576 iterations"):
        engine.Session(_loop_file(np.array(2**62, np.int64), None, scan=False)).run(None, x)
    # with a scan output, the plan already refuses the output's size
    with pytest.raises(engine.EngineError, match=r"node 'bad_loop' \(Loop\): scan output 0 of 4611686018427387904 "
                                                 r"iterations of \[2\] is too large"):
        engine.Session(_loop_file(np.array(2**62, np.int64), None)).run(None, x)


def test_untyped_loop_body_inputs_get_their_types_from_the_loop(tmp_path: Path) -> None:
    # exporters may leave a body's formal inputs untyped (onnxruntime refuses that, the converter types them
    # from Loop's semantics): compared with onnxruntime on the typed model
    feeds = {"x": np.ones((2, 3), np.float32), "acc0": np.zeros((2, 3), np.float32)}
    models = []
    for typed in (True, False):
        body = _loop_body()
        for inp in body.input if not typed else []:
            inp.ClearField("type")
        node = helper.make_node("Loop", ["M", "", "acc0"], ["acc", "scans"], body=body, name="loop")
        models.append(_model([node], feeds, {"acc": (F, [2, 3]), "scans": (F, [2, 2, 3])},
                             {**_loop_inits(), "M": np.array(2, np.int64)}))
    expected = ort_run(models[0], feeds)
    export.convert_model(models[1], tmp_path / "m.slm")
    for isa in engine.available_isas():
        for g, e in zip(engine.Session(tmp_path / "m.slm", isa=isa).run(None, feeds), expected):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_run_time_shapes_inside_a_branch(tmp_path: Path) -> None:
    # the then branch runs a Loop whose trip count its body decides: the branch's own plan stops there, so
    # the If's output is dynamic too, and the Relu after the If is planned per length
    then_g = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "acc0"], ["acc", "scans"], body=_loop_body(True), name="inner_loop")],
        "then", [], [_vi("scans", F, [None, 2, 3])])
    else_g = helper.make_graph([helper.make_node("Unsqueeze", ["x", "ax0"], ["e"])], "else", [],
                               [_vi("e", F, [1, 2, 3])])
    nodes = [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="outer_if"),
             helper.make_node("Relu", ["y"], ["z"])]
    feeds = {"x": _rng(8).standard_normal((2, 3)).astype(np.float32) + 0.5,
             "acc0": np.zeros((2, 3), np.float32), "c": np.array(True), "limit": np.array(8.0, np.float32)}
    model = _model(nodes, feeds, {"z": (F, [None, 2, 3])},
                   {"half": np.array(0.5, np.float32), "M": np.array(50, np.int64), "ax0": np.array([0], np.int64)})
    feed_sets = [feeds, {**feeds, "limit": np.array(2.0, np.float32)}, {**feeds, "c": np.array(False)},
                 {**feeds, "limit": np.array(30.0, np.float32)}]
    assert _check(model, feed_sets, tmp_path) > 0
