"""Hostile model files and feeds through the Python binding: every bad field of a well-formed file is an
EngineError naming the node, the field and the value; the crash regressions fail cleanly; feeds, threads and
memory are validated as documented (engine/FORMAT.md, engine.Session)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import engine
from tests.engine.fuzz import slm_edit
from tests.engine.models import ConvReluAdd

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "engine" / "tests" / "fuzz" / "seeds").glob("*.slm"))
REGRESSIONS = ROOT / "engine" / "tests" / "regressions"


def feeds(s: engine.Session, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for a session: symbolic "batch" dims take `batch`, other symbolic dims (image sides) 16."""
    rng = np.random.default_rng(seed)
    dims = {"batch": batch}
    return {i.name: rng.standard_normal([dims.get(d, 16) if isinstance(d, str) else d for d in i.shape])
            .astype(np.float32) for i in s.inputs}


def seed_bytes(name: str) -> bytes:
    return (ROOT / "engine" / "tests" / "fuzz" / "seeds" / name).read_bytes()


def test_regression_files_fail_cleanly() -> None:
    # In a subprocess: if a fix regressed, the crash fails this test instead of ending pytest.
    files = sorted(REGRESSIONS.glob("*.slm"))
    assert len(files) >= 30
    readme = (REGRESSIONS / "README.md").read_text()
    assert all(f.name in readme for f in files), "every regression file is described in its README"
    script = (
        "import sys, numpy as np, engine\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        s = engine.Session(path)\n"
        "        x = {i.name: np.ones([1 if isinstance(d, str) else d for d in i.shape], np.dtype(i.dtype))\n"
        "             for i in s.inputs}\n"
        "        s.run(None, x)\n"
        "        print(path, 'ran')\n"
        "    except engine.EngineError as e:\n"
        "        assert 'internal error' not in str(e), str(e)\n"
        "        print(path, 'error:', str(e)[:200])\n"
    )
    r = subprocess.run([sys.executable, "-c", script, *map(str, files)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300, check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert len(r.stdout.splitlines()) == len(files)


def _conv_mutant(field: str, value: object) -> tuple[bytes, str]:
    """The first depthwise Conv of a real MobileNetV3 (zoo, converted) with one field rewritten."""
    f = slm_edit.parse(seed_bytes("mobilenetv3_small_fp16.slm"))
    node = next(n for n in f.nodes_of("Conv") if n.attr("group") and n.attr("group").value > 1)  # type: ignore[union-attr]
    channels = f.tensors[node.inputs[1]].dims[0]
    if field == "group":
        node.set_attr("group", 1, channels * 2 if value == "2C" else value)  # type: ignore[arg-type]
    else:
        node.set_attr(field, 4, value)  # type: ignore[arg-type]
    return f.to_bytes(), node.name


@pytest.mark.parametrize(("field", "value", "message"), [
    ("group", 2**31, "attribute 'group' = 2147483648 is out of range"),
    ("group", 2**63 - 1, "attribute 'group' = 9223372036854775807 is out of range"),
    ("group", 65535, "attribute 'group' = 65535 is out of range"),
    ("group", "2C", "attribute 'group' = .* is out of range"),
    ("pads", [65535] * 4, r"attribute 'pads' \[65535, 65535, 65535, 65535\] exceeds the dilated kernel"),
    ("strides", [2**62, 1], r"attribute 'strides'\[0\] = 4611686018427387904 is out of range"),
    ("dilations", [1, 2**40], r"attribute 'dilations'\[1\] = 1099511627776 is out of range"),
    ("kernel_shape", [5, 5], "attribute 'kernel_shape' does not match the weight shape"),
])
def test_hostile_conv_fields_of_a_real_model(field: str, value: object, message: str) -> None:
    data, node = _conv_mutant(field, value)
    with pytest.raises(engine.EngineError, match=f"node '{node}' \\(Conv\\): {message}"):
        s = engine.Session(data)
        s.run(None, feeds(s))


@pytest.mark.parametrize("seed", [p.name for p in SEEDS])
def test_batch_zero_gives_empty_outputs(seed: str) -> None:
    s = engine.Session(seed_bytes(seed))
    if not any(d == "batch" for i in s.inputs for d in i.shape):
        # A model exported for batch 1 refuses batch 0 at the input, naming the dim.
        x = {i.name: np.zeros([0, *i.shape[1:]], np.float32) for i in s.inputs}
        with pytest.raises(engine.EngineError, match=r"dim 0 must be 1"):
            s.run(None, x)
        return
    if seed.startswith("ops_mix"):
        # PixelUnshuffle's Reshape to [N, C, -1, 2, W]: with N = 0 the -1 could be anything. ONNX Runtime and
        # PyTorch refuse it too; the error names the node.
        with pytest.raises(engine.EngineError, match=r"node '/unshuffle/Reshape' \(Reshape\): cannot reshape \[0, "):
            s.run(None, feeds(s, batch=0))
        return
    ys = s.run(None, feeds(s, batch=0))
    ones = s.run(None, feeds(s, batch=1))
    for y, one in zip(ys, ones):
        assert y.shape == (0, *one.shape[1:]) and y.dtype == one.dtype


def test_feeds_are_validated_and_normalized() -> None:
    m = ConvReluAdd()
    s = engine.Session(m.data)
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    (ref,) = s.run(None, {"x": x})
    # Any memory order or byte order of a float32 array gives the same result.
    for view in (np.asfortranarray(x), x[:, :, ::-1, :][:, :, ::-1, :], x.astype(">f4")):
        (y,) = s.run(None, {"x": view})
        np.testing.assert_array_equal(y, ref)
    for bad, message in [
        (x.astype(np.int32), "dtype int32, the model expects float32"),
        (x[0], "has rank 3"),
        (np.zeros((2, 4, 6, 5), np.float32), "dim 1 must be 3"),
    ]:
        with pytest.raises(engine.EngineError, match=message):
            s.run(None, {"x": bad})
    with pytest.raises(engine.EngineError, match="unknown input name 'extra'"):
        s.run(None, {"x": x, "extra": x})


def test_nan_and_inf_propagate_through_a_real_model() -> None:
    s = engine.Session(seed_bytes("shufflenetv2.slm"))
    x = feeds(s)
    name = s.inputs[0].name
    x[name][0, 0, 3, 3], x[name][0, 0, 5, 5] = np.nan, np.inf
    (y,) = s.run(None, x)
    assert y.shape == (1, 10) and np.isnan(y).any()


def test_threads_are_capped() -> None:
    data = ConvReluAdd().data
    assert engine.MAX_THREADS == 1024
    for bad in (0, -1, engine.MAX_THREADS + 1, 10000, True, 2.0):
        with pytest.raises(engine.EngineError, match=r"threads must be an int in 1\.\.1024"):
            engine.Session(data, threads=bad)  # type: ignore[arg-type]


def test_memory_cap_refuses_at_plan_time_with_the_amount() -> None:
    m = ConvReluAdd()
    assert engine.DEFAULT_MAX_MEMORY_BYTES == 4 << 30
    s = engine.Session(m.data, max_memory_bytes=64 << 10)
    small = np.zeros((1, 3, 8, 8), np.float32)
    assert s.run(None, {"x": small})[0].shape == (1, 4, 8, 8)
    with pytest.raises(engine.EngineError, match=r"needs \d+ bytes .*more than max_memory_bytes = 65536 bytes"):
        s.run(None, {"x": np.zeros((16, 3, 32, 32), np.float32)})
    assert s.run(None, {"x": small})[0].shape == (1, 4, 8, 8)  # the session keeps serving what fits
    with pytest.raises(engine.EngineError, match=r"model needs \d+ bytes for its weights"):
        engine.Session(m.data, max_memory_bytes=100)
    with pytest.raises(engine.EngineError, match="max_memory_bytes must be an int >= 0"):
        engine.Session(m.data, max_memory_bytes=-1)
    big = np.zeros((16, 3, 32, 32), np.float32)
    assert engine.Session(m.data, max_memory_bytes=0).run(None, {"x": big})[0].shape == (16, 4, 32, 32)


def test_eight_threads_on_one_session_match_one_thread() -> None:
    s = engine.Session(seed_bytes("mobilevit_xxs_fp16.slm"), threads=2)
    inputs = [feeds(s, seed=k) for k in range(4)]
    expected = [s.run(None, x) for x in inputs]
    mismatches: list[int] = []

    def worker(k: int) -> None:
        for rep in range(10):
            i = (k + rep) % len(inputs)
            got = s.run(None, inputs[i])
            if any(not np.array_equal(g, e) for g, e in zip(got, expected[i])):
                mismatches.append(i)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mismatches == []
