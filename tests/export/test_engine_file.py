"""Writer <-> reader round trip of the engine model file (engine/FORMAT.md)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from onnx import TensorProto, helper

from export import EngineFileError, load_engine_file_summary
from export.engine_file import ALIGN, KIND_CONST, KIND_INPUT, KIND_VALUE, write_engine_file
from tests.export.helpers import init, make_model, optimize, tensor_in

rng = np.random.default_rng(1)


def _graph():
    w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    fc = rng.standard_normal((16, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "fc"], ["y"], name="fc"),
    ]
    model = make_model(nodes, [tensor_in("x", ["batch", 3, 8, 8])], [tensor_in("y", ["batch", 5])],
                       [init("w", w), init("b", b), init("fc", fc)])
    graph, _ = optimize(model)
    return graph, {"w": w, "b": b, "fc": fc}


def test_round_trip_header_tensors_nodes(tmp_path):
    graph, weights = _graph()
    path = write_engine_file(graph, tmp_path / "m.slm", meta={"k": "v"})
    data = path.read_bytes()
    s = load_engine_file_summary(path)
    assert data[:8] == b"SLIMLAB\0" and s.version == (1, 0) and s.flags == 0
    assert s.file_size == len(data) and s.graph_offset == 64
    assert s.weights_offset % ALIGN == 0 and s.weights_offset + s.weights_size == len(data)
    assert s.graph_crc32 == zlib.crc32(data[64 : 64 + s.graph_size])
    assert s.weights_crc32 == zlib.crc32(data[s.weights_offset :])
    assert s.meta == {"k": "v"}
    by_name = {t.name: t for t in s.tensors}
    x = by_name["x"]
    assert x.kind == KIND_INPUT and x.shape == [-1, 3, 8, 8] and x.dim_names == ["batch", "", "", ""]
    assert [s.tensors[i].name for i in s.inputs] == ["x"] and [s.tensors[i].name for i in s.outputs] == ["y"]
    consts = [t for t in s.tensors if t.kind == KIND_CONST]
    assert {t.name for t in consts} == set(weights)
    for t in consts:
        assert t.data_offset % ALIGN == 0 and (s.weights_offset + t.data_offset) % ALIGN == 0
        assert t.storage_dtype == TensorProto.FLOAT
        np.testing.assert_array_equal(s.constant(t.name), weights[t.name])
    assert [n.op_type for n in s.nodes] == ["Conv", "GlobalAveragePool", "Flatten", "MatMul"]
    conv = s.nodes[0]
    assert conv.attrs["activation"] == "Relu" and conv.attrs["activation_params"] == []
    assert conv.attrs["pads"] == [1, 1, 1, 1]
    assert all(s.tensors[o].kind == KIND_VALUE for n in s.nodes for o in n.outputs)


def test_fp16_halves_the_weights(tmp_path):
    graph, weights = _graph()
    s32 = load_engine_file_summary(write_engine_file(graph, tmp_path / "a.slm"))
    s16 = load_engine_file_summary(write_engine_file(graph, tmp_path / "b.slm", weights="fp16"))
    assert s16.flags & 1 and not s32.flags & 1
    raw = sum(a.nbytes for a in weights.values())
    assert abs(s16.weights_size - raw / 2) <= 2 * ALIGN and abs(s32.weights_size - raw) <= 2 * ALIGN
    w16 = s16.constant("w")
    assert w16.dtype == np.float16
    np.testing.assert_allclose(w16.astype(np.float32), weights["w"], rtol=1e-3, atol=1e-3)


def test_corruption_is_detected(tmp_path):
    graph, _ = _graph()
    path = write_engine_file(graph, tmp_path / "m.slm")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(EngineFileError, match="weights_crc32"):
        load_engine_file_summary(path)
    data[-1] ^= 0xFF
    struct.pack_into("<H", data, 8, 2)
    path.write_bytes(bytes(data))
    with pytest.raises(EngineFileError, match="version_major"):
        load_engine_file_summary(path)


def test_unknown_rank_is_refused_by_name(tmp_path):
    graph, _ = _graph()
    graph.values["y"].shape = None
    with pytest.raises(EngineFileError, match="'y'.*unknown rank"):
        write_engine_file(graph, tmp_path / "m.slm")
    assert not list(tmp_path.iterdir()), "nothing may be written for a bad graph"
