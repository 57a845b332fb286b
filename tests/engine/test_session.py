"""engine.Session through the Python binding, on tiny hand-built models."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import engine
from tests.engine.models import ConvReluAdd, conv2d_reference
from tests.engine.slm_builder import SlmBuilder


@pytest.fixture(scope="module")
def model() -> ConvReluAdd:
    return ConvReluAdd()


def _x(n: int, h: int = 6, w: int = 5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, h, w)).astype(np.float32)


def test_metadata(model: ConvReluAdd) -> None:
    s = engine.Session(model.data)
    assert [(i.name, i.shape, i.dtype) for i in s.inputs] == [("x", ("batch", 3, "height", "width"), "float32")]
    assert [(o.name, o.shape, o.dtype) for o in s.outputs] == [("y", ("batch", 4, "height", "width"), "float32")]
    assert s.threads == 1 and s.isa == engine.available_isas()[-1]
    assert s.metadata == {"producer": "slm_builder", "note": "ünïcode"}


def test_module_level_api() -> None:
    ops = engine.supported_ops()
    assert {"Conv", "Relu", "Add"} <= set(ops)
    assert "float32" in ops["Conv"] and "int64" in ops["Add"]
    isas = engine.available_isas()
    assert isas[0] == "scalar" and set(isas) <= {"scalar", "avx2", "avx512", "avx512vnni"}
    assert isinstance(engine.__version__, str) and engine.__version__.count(".") == 2
    assert issubclass(engine.EngineError, RuntimeError)


@pytest.mark.parametrize("isa", engine.available_isas())
def test_run_matches_numpy_for_changing_shapes(model: ConvReluAdd, isa: str) -> None:
    s = engine.Session(model.data, threads=2, isa=isa)
    assert s.isa == isa
    for n, h, w in [(1, 6, 5), (3, 4, 4), (2, 9, 7), (1, 6, 5)]:
        x = _x(n, h, w)
        (y,) = s.run(None, {"x": x})
        assert y.shape == (n, 4, h, w) and y.dtype == np.float32
        np.testing.assert_allclose(y, model.reference(x), rtol=1e-5, atol=1e-5)


def test_run_from_file_path_and_output_names(model: ConvReluAdd, tmp_path) -> None:
    path = tmp_path / "m.slm"
    path.write_bytes(model.data)
    s = engine.Session(path)
    x = _x(2)
    (y,) = s.run(["y"], {"x": x})
    np.testing.assert_allclose(y, model.reference(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(engine.EngineError, match="unknown output name 'z'"):
        s.run(["z"], {"x": x})


def test_fp16_weights_are_widened() -> None:
    m = ConvReluAdd(seed=3, fp16=True)
    x = _x(1)
    (y,) = engine.Session(m.data).run(None, {"x": x})
    np.testing.assert_allclose(y, m.reference(x), rtol=1e-5, atol=1e-5)


def test_threads_agree_and_sessions_are_thread_safe(model: ConvReluAdd) -> None:
    s = engine.Session(model.data, threads=2)
    inputs = [_x(n, 5 + n, 4, seed=n) for n in range(1, 5)]
    expected = [model.reference(x) for x in inputs]
    errors: list[str] = []

    def worker(k: int) -> None:
        for rep in range(15):
            i = (k + rep) % len(inputs)
            (y,) = s.run(None, {"x": inputs[i]})
            if not np.allclose(y, expected[i], rtol=1e-5, atol=1e-5):
                errors.append(f"thread {k} rep {rep} input {i}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_wrong_inputs_raise_clear_errors(model: ConvReluAdd) -> None:
    s = engine.Session(model.data)
    x = _x(1)
    with pytest.raises(engine.EngineError, match="unknown input name 'inp'.*model inputs: x"):
        s.run(None, {"inp": x})
    with pytest.raises(engine.EngineError, match="unknown input name 'inp'"):
        s.run(None, {"x": x, "inp": np.array(["not", "numbers"], dtype=object)})
    with pytest.raises(engine.EngineError, match="input 'x' has dtype str"):
        s.run(None, {"x": ["a", "b"]})
    with pytest.raises(engine.EngineError, match="missing input 'x'"):
        s.run(None, {})
    with pytest.raises(engine.EngineError, match="input 'x' has rank 3"):
        s.run(None, {"x": x[0]})
    with pytest.raises(engine.EngineError, match="input 'x' has dtype float64, the model expects float32"):
        s.run(None, {"x": x.astype(np.float64)})
    with pytest.raises(engine.EngineError, match=r"dim 1 must be 3"):
        s.run(None, {"x": np.zeros((1, 2, 6, 5), np.float32)})
    with pytest.raises(engine.EngineError, match="smaller than the"):
        s.run(None, {"x": np.zeros((1, 3, 0, 5), np.float32)})


def test_nan_and_inf_propagate(model: ConvReluAdd) -> None:
    x = _x(1)
    x[0, 0, 2, 2] = np.nan
    x[0, 1, 0, 0] = np.inf
    (y,) = engine.Session(model.data).run(None, {"x": x})
    assert np.isnan(y).any()
    ref = model.reference(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(y[finite], ref[finite], rtol=1e-5, atol=1e-5)


def test_memory_and_profile(model: ConvReluAdd) -> None:
    s = engine.Session(model.data)
    s.run(None, {"x": _x(2, 16, 16)})
    mem = s.memory
    assert 0 < mem.live_peak_bytes <= mem.arena_bytes <= mem.naive_activation_bytes
    assert mem.weights_bytes == (model.w.size + model.b.size + model.k.size) * 4
    prof = s.profile()
    by_node = {p.node: p for p in prof}
    assert by_node["conv"].op_type == "Conv" and by_node["conv"].calls == 1
    assert by_node["conv"].kernel in engine.available_isas()
    assert all(p.total_ms >= 0 for p in prof)
    s.reset_profile()
    assert s.profile() == []


def test_arena_reuses_memory_on_a_chain() -> None:
    sb = SlmBuilder()
    sb.input("x", ["n", 64])
    prev = "x"
    for i in range(6):
        sb.node("Relu", [prev], [f"r{i}"])
        prev = f"r{i}"
    sb.output(prev)
    s = engine.Session(sb.to_bytes())
    x = np.linspace(-1, 1, 8 * 64, dtype=np.float32).reshape(8, 64)
    (y,) = s.run(None, {"x": x})
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    mem = s.memory
    assert mem.naive_activation_bytes == 6 * 8 * 64 * 4
    assert mem.arena_bytes <= 2 * 8 * 64 * 4


def test_add_broadcasts_like_numpy() -> None:
    sb = SlmBuilder()
    sb.input("a", [2, 1, 3])
    sb.input("b", [4, 1])
    sb.node("Add", ["a", "b"], ["y"])
    sb.output("y")
    a = np.arange(6, dtype=np.float32).reshape(2, 1, 3)
    b = np.arange(4, dtype=np.float32).reshape(4, 1) * 10
    (y,) = engine.Session(sb.to_bytes()).run(None, {"a": a, "b": b})
    np.testing.assert_array_equal(y, a + b)


def test_conv_groups_strides_asymmetric_pads_and_nhwc_add() -> None:
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    k = rng.standard_normal((6, 1, 1)).astype(np.float32)
    sb = SlmBuilder()
    sb.input("x", [1, 4, 9, 8])
    sb.constant("w", w)
    sb.constant("b", b)
    sb.constant("k", k)
    sb.node("Conv", ["x", "w", "b"], ["c"], group=2, strides=[2, 1], pads=[1, 0, 2, 1], activation="Clip",
            activation_params=[-0.5, 0.5])
    sb.node("Add", ["c", "k"], ["y"])
    sb.output("y")
    x = rng.standard_normal((1, 4, 9, 8)).astype(np.float32)
    (y,) = engine.Session(sb.to_bytes()).run(None, {"x": x})
    ref = np.clip(conv2d_reference(x, w, b, (1, 0, 2, 1), strides=(2, 1), group=2), -0.5, 0.5) + k[None]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_isa_option_and_env_override(model: ConvReluAdd, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(engine.EngineError, match="unknown ISA 'sse9'"):
        engine.Session(model.data, isa="sse9")
    monkeypatch.setenv("SLIMLAB_ISA", "scalar")
    s = engine.Session(model.data)
    assert s.isa == "scalar"
    assert {p.kernel for p in (s.run(None, {"x": _x(1)}), s.profile())[1]} == {"scalar"}
    monkeypatch.setenv("SLIMLAB_ISA", "bogus")
    with pytest.raises(engine.EngineError, match="unknown ISA 'bogus'"):
        engine.Session(model.data)


def test_unsupported_op_and_bad_threads(model: ConvReluAdd) -> None:
    sb = SlmBuilder()
    sb.input("x", [1])
    sb.node("NoSuchOp", ["x"], ["y"])
    sb.output("y")
    with pytest.raises(engine.EngineError, match="unsupported op types: NoSuchOp"):
        engine.Session(sb.to_bytes())
    with pytest.raises(engine.EngineError, match="threads"):
        engine.Session(model.data, threads=0)


def test_layout_conversions_only_at_region_edges() -> None:
    rng = np.random.default_rng(2)
    w1 = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
    w2 = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    sb = SlmBuilder()
    sb.input("x", [1, 3, 5, 5])
    sb.constant("w1", w1)
    sb.constant("w2", w2)
    sb.constant("z1", np.zeros(4, np.float32))
    sb.constant("z2", np.zeros(2, np.float32))
    sb.node("Conv", ["x", "w1", "z1"], ["a"], name="c1")
    sb.node("Relu", ["a"], ["r"], name="relu")
    sb.node("Conv", ["r", "w2", "z2"], ["y"], name="c2", pads=[1, 1, 1, 1])
    sb.output("y")
    s = engine.Session(sb.to_bytes())
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    (y,) = s.run(None, {"x": x})
    z2 = np.zeros(2, np.float32)
    ref = conv2d_reference(np.maximum(conv2d_reference(x, w1, np.zeros(4, np.float32), (0, 0, 0, 0)), 0),
                           w2, z2, (1, 1, 1, 1))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    kinds = [p.op_type for p in s.profile()]
    assert kinds.count("ToNhwc") == 1 and kinds.count("ToPlain") == 1


def test_plan_cache_eviction_keeps_results_right(model: ConvReluAdd) -> None:
    s = engine.Session(model.data)
    shapes = [(1, 3 + i, 4) for i in range(10)] + [(1, 3, 4), (2, 4, 4)]  # more than the cache holds
    for n, h, w in shapes:
        x = _x(n, h, w, seed=h)
        (y,) = s.run(None, {"x": x})
        np.testing.assert_allclose(y, model.reference(x), rtol=1e-5, atol=1e-5)


def test_rank0_inputs_keep_their_rank() -> None:
    sb = SlmBuilder()
    sb.input("a", [])
    sb.input("x", [3])
    sb.node("Add", ["x", "a"], ["y"])
    sb.output("y")
    s = engine.Session(sb.to_bytes())
    x = np.array([1, 2, 3], np.float32)
    (y,) = s.run(None, {"a": np.float32(0.5), "x": x})
    np.testing.assert_array_equal(y, x + 0.5)


def test_small_integer_inputs_are_planned_by_value() -> None:
    # Add on int64 is foldable: with the input known at plan time the whole graph
    # folds, so a plan reused for different values would return stale results.
    sb = SlmBuilder()
    sb.input("s", [2], dtype="int64")
    sb.constant("one", np.array([1, 1], np.int64))
    sb.value("y", [2], dtype="int64")  # a tensor's declared dtype must be what its op produces
    sb.node("Add", ["s", "one"], ["y"])
    sb.output("y")
    s = engine.Session(sb.to_bytes())
    for values in ([1, 2], [5, 7], [1, 2], [-3, 0]):
        (y,) = s.run(None, {"s": np.array(values, np.int64)})
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, np.array(values) + 1)


def test_keep_intermediates_returns_fused_values_in_onnx_layout(model: ConvReluAdd) -> None:
    x = _x(2)
    # "h" is the fused Conv+Relu's output, which the engine keeps in NHWC: it must come back as NCHW
    s = engine.Session(model.data, keep_intermediates=True)
    h, y = s.run(["h", "y"], {"x": x})
    np.testing.assert_allclose(h, model.reference(x) - model.k[None], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, model.reference(x), rtol=1e-5, atol=1e-5)
    # no reuse: every value has its own bytes
    assert s.memory.arena_bytes >= s.memory.naive_activation_bytes
    with pytest.raises(engine.EngineError, match="'h' is an intermediate value.*keep_intermediates"):
        engine.Session(model.data).run(["h"], {"x": x})
    with pytest.raises(engine.EngineError, match="unknown output name 'w'"):
        s.run(["w"], {"x": x})  # a constant is not computed by the graph


def test_arena_reaches_the_liveness_bound_on_an_inverted_residual_chain(tmp_path) -> None:
    # narrow -> wide -> narrow blocks: planned in program order a narrow output would sit under the next wide
    # tensor and push it up; the engine keeps the smaller of two placements (engine/src/core/memory_planner.h)
    torch = pytest.importorskip("torch")
    from export.converter import convert

    blocks = []
    for _ in range(3):
        blocks += [torch.nn.Conv2d(8, 48, 1), torch.nn.ReLU6(), torch.nn.Conv2d(48, 48, 3, padding=1, groups=48),
                   torch.nn.ReLU6(), torch.nn.Conv2d(48, 8, 1)]
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), *blocks).eval()
    onnx_path = tmp_path / "ir.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 24, 24),), onnx_path, input_names=["x"], opset_version=17,
                      dynamo=False)
    convert(onnx_path, tmp_path / "ir.slm")
    s = engine.Session(tmp_path / "ir.slm")
    s.run(None, {"x": np.zeros((1, 3, 24, 24), np.float32)})
    mem = s.memory
    assert mem.live_peak_bytes <= mem.arena_bytes <= 1.1 * mem.live_peak_bytes, mem
