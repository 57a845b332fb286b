"""Hostile and broken ONNX input: every case is a ModelFormatError naming the file, the problem and the
node/value/field, raised before any pass runs; the command line prints it as one ``error:`` line."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from export import Limits, ModelFormatError, UnsupportedOpsError, load_engine_file_summary
from export import convert_model as convert
from export.convert import main
from export.validate import MAX_OPSET, MIN_OPSET

F32 = TensorProto.FLOAT


def _model(nodes, inits=(), *, inputs=None, outputs=None, opset: int = 17, ir: int = 9) -> onnx.ModelProto:
    """A model built without onnx.checker: these tests are about what the checker would choke on."""
    inputs = [helper.make_tensor_value_info("x", F32, [1, 4])] if inputs is None else inputs
    outputs = [helper.make_tensor_value_info("y", F32, [1, 4])] if outputs is None else outputs
    graph = helper.make_graph(nodes, "t", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir
    return model


def _relu(inp: str = "x", out: str = "y", name: str = "relu") -> onnx.NodeProto:
    return helper.make_node("Relu", [inp], [out], name=name)


def _add_bias(bias: onnx.TensorProto) -> onnx.ModelProto:
    return _model([helper.make_node("Add", ["x", bias.name], ["y"], name="add")], [bias])


def _save(tmp_path, model: onnx.ModelProto, name: str = "m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def _error(tmp_path, source, kind: str, *, limits: Limits | None = None) -> ModelFormatError:
    """Convert ``source`` (a model, saved first, or a path) and return the error, checking its kind and that
    it names the file; nothing may be written."""
    path = source if not isinstance(source, onnx.ModelProto) else _save(tmp_path, source)
    out = tmp_path / "out.slm"
    with pytest.raises(ModelFormatError) as info:
        convert(path, out, limits=limits)
    err = info.value
    assert err.kind == kind, str(err)
    assert str(err).startswith(f"{path}: "), str(err)
    assert not out.exists()
    return err


# ---- the file itself ---------------------------------------------------------------------------------
def test_truncated_file(tmp_path):
    data = _model([_relu()]).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) - 7])
    err = _error(tmp_path, path, "not-onnx")
    assert "truncated" in str(err) and "protobuf does not decode" in str(err)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(b"this is not an ONNX model, just text\n" * 10)
    assert "is not an ONNX model" in str(_error(tmp_path, path, "not-onnx"))


def test_empty_file_directory_missing_file_and_engine_file(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert "is empty (0 bytes)" in str(_error(tmp_path, tmp_path / "empty.onnx", "empty"))
    (tmp_path / "folder.onnx").mkdir()
    assert "is a directory" in str(_error(tmp_path, tmp_path / "folder.onnx", "not-a-file"))
    assert str(_error(tmp_path, tmp_path / "nope.onnx", "not-found")).endswith("nope.onnx: no such file")
    (tmp_path / "m.slm").write_bytes(b"SLIMLAB\0" + bytes(100))
    assert "engine model file (.slm)" in str(_error(tmp_path, tmp_path / "m.slm", "not-onnx"))


def test_bytes_that_parse_but_hold_no_graph(tmp_path):
    model = onnx.ModelProto(ir_version=9)
    model.opset_import.add(version=17)
    assert "contains no graph" in str(_error(tmp_path, model, "no-graph"))


def test_ir_version_out_of_range(tmp_path):
    err = _error(tmp_path, _model([_relu()], ir=99), "ir-version")
    assert "ir_version: 99 is newer than the supported range 3.." in str(err)


# ---- graph structure ---------------------------------------------------------------------------------
def test_no_outputs_is_refused_but_no_inputs_is_a_valid_graph(tmp_path):
    assert "graph has no outputs" in str(_error(tmp_path, _model([_relu()], outputs=[]), "no-outputs"))
    # A graph of constants alone (ONNX's Range/ConstantOfShape tests are such) is valid: the engine runs it.
    const = numpy_helper.from_array(np.ones((1, 4), np.float32), "c")
    path = _save(tmp_path, _model([_relu("c")], [const], inputs=[]))
    convert(path, tmp_path / "out.slm")
    assert (tmp_path / "out.slm").stat().st_size > 0


def test_cycle_names_the_nodes_on_it(tmp_path):
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
        helper.make_node("Relu", ["a"], ["b"], name="n2"),
        helper.make_node("Relu", ["a"], ["y"], name="n3"),
    ]
    err = _error(tmp_path, _model(nodes), "cycle")
    assert "graph has a cycle: node 'n1' (Add) -> node 'n2' (Relu) -> back to node 'n1' (Add)" in str(err)
    assert "n3" not in str(err), "only nodes on the cycle are named"
    self_loop = _model([helper.make_node("Add", ["x", "y"], ["y"], name="loop")])
    assert "node 'loop' (Add) -> back to node 'loop'" in str(_error(tmp_path, self_loop, "cycle"))


def test_dangling_input_names_node_and_value(tmp_path):
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="add0")]
    err = _error(tmp_path, _model(nodes), "dangling-input")
    assert "node 'add0' (Add): reads 'ghost', which no node, graph input or initializer produces" in str(err)
    assert err.where == "node 'add0' (Add)"
    nodes = [helper.make_node("Add", ["x", "ghost"], ["a"], name="add0"), helper.make_node("Add", ["a", "spook"], ["y"],
                                                                                           name="add1")]
    assert "(also: node 'add1' (Add) reads 'spook')" in str(_error(tmp_path, _model(nodes), "dangling-input"))


def test_unproduced_graph_output(tmp_path):
    outputs = [helper.make_tensor_value_info("y", F32, [1, 4]), helper.make_tensor_value_info("z", F32, [1])]
    err = _error(tmp_path, _model([_relu()], outputs=outputs), "dangling-output")
    assert "graph output 'z': is not produced by any node" in str(err)


def test_output_that_is_an_input_is_not_computed(tmp_path):
    outputs = [helper.make_tensor_value_info("x", F32, [1, 4])]
    err = _error(tmp_path, _model([_relu()], outputs=outputs), "output-not-computed")
    assert "graph output 'x': is a graph input, not computed by a node" in str(err)


def test_value_produced_twice(tmp_path):
    nodes = [_relu(name="first"), helper.make_node("Sigmoid", ["x"], ["y"], name="second")]
    err = _error(tmp_path, _model(nodes), "produced-twice")
    assert "node 'second' (Sigmoid) at #1: produces value 'y' and so does node 'first' (Relu) at #0" in str(err)
    shadow = _model([_relu(), helper.make_node("Relu", ["x"], ["w"], name="r2")],
                    [numpy_helper.from_array(np.ones(4, np.float32), "w")])
    assert "produces value 'w', which is also an initializer" in str(_error(tmp_path, shadow, "produced-twice"))


def test_nodes_out_of_order_are_sorted_not_refused(tmp_path):
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="second"), helper.make_node("Neg", ["x"], ["a"], name="first")]
    report = convert(_save(tmp_path, _model(nodes)), tmp_path / "m.slm")
    assert [n.name for n in load_engine_file_summary(report.output).nodes] == ["first", "second"]


def test_arity_and_empty_required_input(tmp_path):
    err = _error(tmp_path, _model([helper.make_node("Add", ["x"], ["y"], name="half")]), "arity")
    assert "node 'half' (Add): has 1 inputs; Add-14 takes 2" in str(err)
    err = _error(tmp_path, _model([helper.make_node("Add", ["x", ""], ["y"], name="hole")]), "arity")
    assert "node 'hole' (Add): input #1 ('B') is required but empty" in str(err)


# ---- tensors -----------------------------------------------------------------------------------------
def test_initializer_dims_and_raw_data_disagree(tmp_path):
    bias = numpy_helper.from_array(np.ones(4, np.float32), "bias")
    bias.dims[:] = [1, 8]
    err = _error(tmp_path, _add_bias(bias), "tensor-size")
    assert "initializer 'bias': declares dims [1, 8] of FLOAT = 32 bytes but its raw_data holds 16" in str(err)


def test_initializer_dims_and_typed_data_disagree(tmp_path):
    bias = TensorProto(name="bias", data_type=F32, dims=[1, 4], float_data=[1.0, 2.0, 3.0])
    err = _error(tmp_path, _add_bias(bias), "tensor-size")
    assert "initializer 'bias': declares dims [1, 4] of FLOAT, which needs 4 values in float_data; it holds 3" \
        in str(err)
    no_data = TensorProto(name="bias", data_type=F32, dims=[1, 4])
    assert "holds no data" in str(_error(tmp_path, _add_bias(no_data), "tensor-size"))


def test_huge_declared_initializer_is_refused_before_allocating(tmp_path):
    bias = numpy_helper.from_array(np.ones(4, np.float32), "bias")
    bias.dims[:] = [2**20, 2**20]  # 4 TiB declared, 16 bytes present
    path = _save(tmp_path, _add_bias(bias))
    tracemalloc.start()
    try:
        err = _error(tmp_path, path, "tensor-limit")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak} bytes allocated to refuse a tensor"
    assert "initializer 'bias': declares dims [1048576, 1048576] of FLOAT = 4398046511104 bytes, above the " \
        "per-tensor limit of 1073741824 bytes" in str(err)
    bias.dims[:] = [2**62, 16]
    assert "element count overflows int64" in str(_error(tmp_path, _add_bias(bias), "tensor-limit"))


def test_tensor_cap_is_configurable(tmp_path):
    bias = numpy_helper.from_array(np.ones((1, 4), np.float32), "bias")
    err = _error(tmp_path, _add_bias(bias), "tensor-limit", limits=Limits(max_tensor_bytes=8))
    assert "= 16 bytes, above the per-tensor limit of 8 bytes" in str(err)
    convert(_save(tmp_path, _add_bias(bias)), tmp_path / "ok.slm", limits=Limits(max_tensor_bytes=16))


def test_folding_into_a_huge_constant_is_refused(tmp_path):
    shape = numpy_helper.from_array(np.array([2**20, 2**20], np.int64), "shape")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill"), _relu()]
    err = _error(tmp_path, _model(nodes, [shape]), "tensor-limit")
    assert "node 'fill' (ConstantOfShape): would fold into a constant of 1099511627776 elements" in str(err)


def test_constant_node_that_cannot_be_evaluated(tmp_path):
    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("a", 0), ("b", 5), ("d", 0))]
    nodes = [helper.make_node("Range", ["a", "b", "d"], ["r"], name="steps"), _relu()]
    err = _error(tmp_path, _model(nodes, inits), "constant-eval")
    assert "node 'steps' (Range): cannot be evaluated on its constant inputs" in str(err)


def test_nan_and_inf_in_initializers_are_data(tmp_path):
    import engine

    values = np.array([[np.nan, np.inf, -np.inf, 1.0]], np.float32)
    path = _save(tmp_path, _add_bias(numpy_helper.from_array(values, "bias")))
    for weights in ("fp32", "fp16"):
        report = convert(path, tmp_path / f"{weights}.slm", weights=weights)
        stored = load_engine_file_summary(report.output).constant("bias").astype(np.float32)
        np.testing.assert_array_equal(stored, values)
        y = engine.Session(str(report.output)).run(None, {"x": np.zeros((1, 4), np.float32)})[0]
        np.testing.assert_array_equal(y, values)


# ---- external data -----------------------------------------------------------------------------------
def _external(model_dir, location: str, **entries: str) -> onnx.ModelProto:
    bias = TensorProto(name="bias", data_type=F32, dims=[1, 4], data_location=TensorProto.EXTERNAL)
    for key, value in {"location": location, **entries}.items():
        bias.external_data.add(key=key, value=value)
    return _add_bias(bias)


def test_external_data_inside_the_model_folder_is_read(tmp_path):
    values = np.arange(8, dtype=np.float32)
    (tmp_path / "weights.bin").write_bytes(values.tobytes())
    model = _external(tmp_path, "weights.bin", offset="16", length="16")
    report = convert(_save(tmp_path, model), tmp_path / "m.slm")
    stored = load_engine_file_summary(report.output).constant("bias")
    np.testing.assert_array_equal(stored.reshape(-1), values[4:])


@pytest.mark.parametrize("location,problem", [
    ("../secret.bin", "climbs out with '..'"),
    ("/etc/hostname", "is an absolute path"),
    ("link.bin", "resolves outside the model's folder"),
    ("missing.bin", "cannot be read: No such file or directory"),
])
def test_external_data_outside_the_folder_or_missing_is_refused(tmp_path, location, problem):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"S" * 16)
    (model_dir / "link.bin").symlink_to(tmp_path / "secret.bin")
    err = _error(tmp_path, _save(model_dir, _external(model_dir, location)), "external-data")
    assert f"initializer 'bias': external data '{location}': {problem}" in str(err)


def test_external_data_of_the_wrong_size(tmp_path):
    (tmp_path / "weights.bin").write_bytes(bytes(64))
    err = _error(tmp_path, _external(tmp_path, "weights.bin", length="12"), "tensor-size")
    assert "external data 'weights.bin': holds 12 bytes for a tensor that needs 16" in str(err)
    err = _error(tmp_path, _external(tmp_path, "weights.bin", offset="56", length="16"), "external-data")
    assert "range [56, 72) goes past the end of the file (64 bytes)" in str(err)


def test_external_data_of_a_model_given_in_memory(tmp_path):
    with pytest.raises(ModelFormatError, match="only be read when the model is given as a path") as info:
        convert(_external(tmp_path, "weights.bin"), tmp_path / "m.slm")
    assert str(info.value).startswith("<ModelProto>: initializer 'bias'")


# ---- opsets, domains, ops, attributes, types -------------------------------------------------------------
@pytest.mark.parametrize("version,age", [(MIN_OPSET - 1, "older"), (MAX_OPSET + 1, "newer")])
def test_unsupported_opset_names_domain_version_and_range(tmp_path, version, age):
    err = _error(tmp_path, _model([_relu()], opset=version), "opset")
    assert f"opset_import: domain ai.onnx version {version} is {age} than the converter supports " \
        f"(ai.onnx {MIN_OPSET}..{MAX_OPSET})" in str(err)


def test_model_without_default_opset(tmp_path):
    model = _model([_relu()])
    del model.opset_import[:]
    assert "imports no default-domain (ai.onnx) opset" in str(_error(tmp_path, model, "opset"))


def test_unknown_domain_names_domain_and_nodes(tmp_path):
    node = helper.make_node("FusedThing", ["x"], ["y"], name="custom0", domain="com.example")
    err = _error(tmp_path, _model([node]), "domain")
    assert "domain 'com.example', not imported by the model: node 'custom0' (FusedThing)" in str(err)


def test_unknown_ops_are_all_listed_with_their_nodes(tmp_path):
    nodes = [helper.make_node("Frobnicate", ["x"], ["a"], name="f1"),
             helper.make_node("Frobnicate", ["a"], ["b"], name="f2"),
             helper.make_node("Wibble", ["b"], ["y"], name="w1")]
    path = _save(tmp_path, _model(nodes))
    with pytest.raises(UnsupportedOpsError) as info:
        convert(path, tmp_path / "m.slm")
    msg = str(info.value)
    assert msg.startswith(f"{path}: the engine does not support this graph:")
    assert "op Frobnicate (2 nodes, not an ONNX operator at opset 17): f1, f2" in msg
    assert "op Wibble (1 node, not an ONNX operator at opset 17): w1" in msg


def test_an_unsupported_op_inside_a_branch_is_named(tmp_path):
    # control flow converts (tests/engine/test_control_flow.py); the support check looks inside subgraphs
    branch = helper.make_graph([helper.make_node("Det", ["x"], ["z"], name="det_in_branch")], "b", [],
                               [helper.make_tensor_value_info("z", F32, [])])
    cond = numpy_helper.from_array(np.array(True), "cond")
    x = helper.make_tensor_value_info("x", F32, [2, 2])
    node = helper.make_node("If", ["cond"], ["y"], name="branchy", then_branch=branch, else_branch=branch)
    graph = helper.make_graph([node], "g", [x], [helper.make_tensor_value_info("y", F32, [])], [cond])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpsError, match=r"op Det \(2 nodes\): det_in_branch"):
        convert(_save(tmp_path, model), tmp_path / "m.slm")


def test_attribute_of_the_wrong_type(tmp_path):
    node = helper.make_node("Transpose", ["x"], ["y"], name="tr")
    node.attribute.append(helper.make_attribute("perm", 1.5))
    err = _error(tmp_path, _model([node]), "attribute")
    assert "node 'tr' (Transpose): attribute 'perm': has type FLOAT, Transpose expects INTS" in str(err)
    bad = helper.make_node("Conv", ["x", "w"], ["y"], name="c", auto_pad=b"\xff\xfe")
    assert "attribute 'auto_pad': is not valid UTF-8" in str(_error(tmp_path, _model([bad]), "attribute"))
    unknown = helper.make_node("Relu", ["x"], ["y"], name="r", colour=3)
    assert "attribute 'colour': is not an attribute of Relu-14" in str(_error(tmp_path, _model([unknown]),
                                                                           "attribute"))


def test_negative_dims_in_declared_shapes(tmp_path):
    inputs = [helper.make_tensor_value_info("x", F32, [1, -4])]
    err = _error(tmp_path, _model([_relu()], inputs=inputs), "shape")
    assert "graph input 'x': dim 1 is -4 (negative)" in str(err)
    bias = numpy_helper.from_array(np.ones(4, np.float32), "bias")
    bias.dims[:] = [-1, -4]
    assert "initializer 'bias': dim 0 is -1 (negative)" in str(_error(tmp_path, _add_bias(bias), "shape"))
    model = _model([helper.make_node("Neg", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])])
    model.graph.value_info.append(helper.make_tensor_value_info("a", F32, [1, -2]))
    assert "value_info 'a': dim 1 is -2 (negative)" in str(_error(tmp_path, model, "shape"))


def test_input_types_the_engine_cannot_take(tmp_path):
    inputs = [helper.make_tensor_value_info("x", TensorProto.STRING, [1, 4])]
    assert "graph input 'x': is a string tensor" in str(_error(tmp_path, _model([_relu()], inputs=inputs), "type"))
    seq = helper.make_value_info("x", helper.make_sequence_type_proto(helper.make_tensor_type_proto(F32, [4])))
    err = _error(tmp_path, _model([_relu()], inputs=[seq]), "type")
    assert "graph input 'x': is declared as a sequence; the engine handles tensors only" in str(err)


def test_declared_shape_that_contradicts_inference_is_not_trusted(tmp_path):
    # strict inference fails (the report names the node); lenient merging would keep the declared [1, 7],
    # and passes act on shapes, so the declaration is dropped and the inferred shape written
    model = _model([helper.make_node("Neg", ["x"], ["a"], name="neg"), _relu("a")])
    model.graph.value_info.append(helper.make_tensor_value_info("a", F32, [1, 7]))
    report = convert(_save(tmp_path, model), tmp_path / "m.slm")
    assert report.shape_inference.startswith("lenient") and "node name: neg" in report.shape_inference
    shapes = {t.name: t.shape for t in load_engine_file_summary(report.output).tensors}
    assert shapes["a"] == [1, 4]


def test_what_the_engine_refuses_is_refused_before_writing(tmp_path):
    # ONNX's inference does not check Conv's bias length; the engine's loader does
    inits = [numpy_helper.from_array(np.ones((3, 4, 1, 1), np.float32), "w"),
             numpy_helper.from_array(np.ones(5, np.float32), "b")]
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv0")], inits,
                   inputs=[helper.make_tensor_value_info("x", F32, [1, 4, 2, 2])],
                   outputs=[helper.make_tensor_value_info("y", F32, [1, 3, 2, 2])])
    err = _error(tmp_path, model, "engine-refuses")
    assert "the engine refuses the converted graph: node 'conv0' (Conv)" in str(err)


def test_graph_the_engine_file_cannot_carry(tmp_path):
    model = _model([helper.make_node("Cast", ["x"], ["y"], name="widen", to=TensorProto.DOUBLE)],
                   outputs=[helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 4])])
    err = _error(tmp_path, model, "unwritable")
    assert "cannot be written as an engine file: tensor 'y' has dtype double" in str(err)


# ---- properties of the whole -------------------------------------------------------------------------
def test_passes_never_see_a_malformed_graph(tmp_path, monkeypatch):
    import export.converter

    def no_passes(*_args, **_kwargs):
        raise AssertionError("a pass ran on a malformed graph")

    monkeypatch.setattr(export.converter, "run_pipeline", no_passes)
    cyclic = _model([helper.make_node("Add", ["x", "y"], ["y"], name="loop")])
    _error(tmp_path, cyclic, "cycle")


def test_the_callers_model_is_not_changed(tmp_path):
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="second"), helper.make_node("Neg", ["x"], ["a"], name="first")]
    model = _model(nodes)
    before = model.SerializeToString()
    convert(model, tmp_path / "m.slm")
    assert model.SerializeToString() == before


def test_control_characters_in_names_do_not_break_the_message(tmp_path):
    nodes = [helper.make_node("Add", ["x", "gh\nost\x1b[2J"], ["y"], name="add\n0")]
    err = _error(tmp_path, _model(nodes), "dangling-input")
    assert "\n" not in str(err) and "\x1b" not in str(err)
    assert "node 'add\\n0' (Add): reads 'gh\\nost\\x1b[2J'" in str(err)


# ---- command line ------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export.convert", *args], capture_output=True, text=True,
                          check=False)


def test_cli_prints_one_error_line_and_exits_2(tmp_path):
    data = _model([_relu()]).SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[:-7])
    cyclic = _save(tmp_path, _model([helper.make_node("Add", ["x", "y"], ["y"], name="loop")]), "cyclic.onnx")
    for path in (tmp_path / "cut.onnx", cyclic, tmp_path):
        proc = _cli(str(path), "-o", str(tmp_path / "m.slm"))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"error: {path}: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_cli_puts_the_unsupported_op_list_on_one_line(tmp_path, capsys):
    nodes = [helper.make_node("Frobnicate", ["x"], ["a"], name="f1"), helper.make_node("Wibble", ["a"], ["y"],
                                                                                       name="w1")]
    path = _save(tmp_path, _model(nodes))
    assert main([str(path), "-o", str(tmp_path / "m.slm")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not support this graph: op Frobnicate (1 node, not an ONNX operator at opset 17): f1; op Wibble" \
        in err


def test_cli_tensor_cap_option(tmp_path, capsys):
    bias = numpy_helper.from_array(np.ones((1, 4), np.float32), "bias")
    path = _save(tmp_path, _add_bias(bias))
    assert main([str(path), "-o", str(tmp_path / "m.slm"), "--max-tensor-mb", "0.00001"]) == 2
    assert "above the per-tensor limit of 10 bytes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(path), "-o", str(tmp_path / "m.slm"), "--passes", "constant_foldin"])
    assert exit_info.value.code == 2 and "unknown pass constant_foldin" in capsys.readouterr().err


def test_cli_shows_the_traceback_of_an_internal_error(tmp_path, monkeypatch):
    import export.converter

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in a pass")

    monkeypatch.setattr(export.converter, "run_pipeline", broken)
    path = _save(tmp_path, _model([_relu()]))
    with pytest.raises(RuntimeError, match="a bug in a pass"):
        main([str(path), "-o", str(tmp_path / "m.slm")])
