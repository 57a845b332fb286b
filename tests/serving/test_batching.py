"""Dynamic batching through the server: requests are batched, split back right, refused when the queue is full,
timed out, and a model without a batch dim runs each request alone."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from tritonclient.utils import InferenceServerException

import engine
from serving.repository import DynamicBatching
from tests.serving.conftest import Gate, infer_input, quick
from tests.serving.models import Dense

LONG_DELAY = DynamicBatching((), 30_000_000)  # 30 s: a batch goes only when full


def _concurrent(client: triton.InferenceServerClient, xs: list[np.ndarray]) -> list[triton.InferResult]:
    handles = [client.async_infer("dense", [infer_input(x)]) for x in xs]
    return [h.get_result(timeout=30) for h in handles]


def test_concurrent_single_requests_run_as_one_batch_with_per_request_outputs(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=8, dynamic_batching=LONG_DELAY, instance_count=1))
    xs = [np.random.default_rng(i).standard_normal((1, 4)).astype(np.float32) for i in range(8)]
    results = _concurrent(s.client(concurrency=8), xs)
    assert s.metric("slimlab_inference_exec_count_total", model="dense") == 1  # 8 requests, one engine run
    assert s.metric("slimlab_inference_batch_size_sum", model="dense") == 8
    (stats,) = s.client().get_inference_statistics("dense")["model_stats"]  # Triton's statistics extension
    assert (stats["inference_count"], stats["execution_count"]) == (8, 1)
    assert stats["inference_stats"]["success"]["count"] == 8 and stats["inference_stats"]["fail"]["count"] == 0
    assert [(b["batch_size"], b["compute_infer"]["count"]) for b in stats["batch_stats"]] == [(8, 1)]
    sess = engine.Session(dense_file)
    for x, r in zip(xs, results):
        y, z = sess.run(None, {"x": x})
        np.testing.assert_allclose(r.as_numpy("y"), y, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(r.as_numpy("z"), z, rtol=1e-6, atol=1e-6)


def test_mixed_batch_sizes_are_packed_into_one_run_and_split_back(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=8, dynamic_batching=LONG_DELAY, instance_count=1))
    xs = [np.random.default_rng(10 + i).standard_normal((n, 4)).astype(np.float32) for i, n in enumerate((3, 1, 2, 2))]
    results = _concurrent(s.client(concurrency=4), xs)
    assert s.metric("slimlab_inference_exec_count_total", model="dense") == 1
    dense = Dense()
    for x, r in zip(xs, results):
        assert r.as_numpy("y").shape == (len(x), 3)
        np.testing.assert_allclose(r.as_numpy("y"), dense.reference(x)[0], rtol=1e-5, atol=1e-6)


def test_without_dynamic_batching_each_request_runs_alone(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=8, dynamic_batching=False, instance_count=1))
    _concurrent(s.client(concurrency=4), [np.ones((1, 4), np.float32)] * 4)
    assert s.metric("slimlab_inference_exec_count_total", model="dense") == 4
    assert "dynamic batching off" in s.client().get_model_config("dense")["slimlab"]["batching"]


def test_a_static_batch_model_serves_its_full_shape_unbatched(serve, tmp_path: Path):
    path = Dense(batch=1).write(tmp_path / "static.slm")
    s = serve(quick(path, name="dense"))
    c = s.client(concurrency=4)
    results = _concurrent(c, [np.full((1, 4), i, np.float32) for i in range(4)])
    assert s.metric("slimlab_inference_exec_count_total", model="dense") == 4
    np.testing.assert_allclose(results[2].as_numpy("y"), Dense().reference(np.full((1, 4), 2, np.float32))[0],
                               rtol=1e-6)
    meta = c.get_model_metadata("dense")
    assert meta["inputs"][0]["shape"] == [1, 4] and meta["batching"]["max_batch_size"] == 0
    with pytest.raises(InferenceServerException, match="expects \\[1, 4\\]"):
        c.infer("dense", [infer_input(np.ones((2, 4), np.float32))])


def test_a_full_queue_is_refused_at_once_with_503(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=1, instance_count=1, max_queue_size=2))
    gate = Gate(s.version("dense"))
    c = s.client(concurrency=4)
    x = np.ones((1, 4), np.float32)
    first = c.async_infer("dense", [infer_input(x)])
    assert gate.entered.wait(30)  # the only instance is busy with it
    queued = [c.async_infer("dense", [infer_input(x)]) for _ in range(2)]
    gate.wait_submitted(3)
    t = time.monotonic()
    with pytest.raises(InferenceServerException) as info:
        s.client().infer("dense", [infer_input(x)])
    assert time.monotonic() - t < 5
    assert info.value.status() == "503" and "queue is full" in info.value.message()
    gate.open.set()
    for h in [first, *queued]:
        h.get_result(timeout=30)  # what was accepted completes
    assert s.metric("slimlab_inference_request_failure_total", model="dense", reason="overloaded") == 1


def test_a_request_that_times_out_in_the_queue_fails_fast_and_never_runs(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=1, instance_count=1))
    gate = Gate(s.version("dense"))
    c = s.client(concurrency=2)
    x = np.ones((1, 4), np.float32)
    first = c.async_infer("dense", [infer_input(x)])
    assert gate.entered.wait(30)
    t = time.monotonic()
    with pytest.raises(InferenceServerException) as info:
        s.client().infer("dense", [infer_input(x)], timeout=50_000)  # 50 ms, in microseconds
    assert time.monotonic() - t < 5 and "timed out" in info.value.message()
    assert info.value.status() == "503"
    gate.open.set()
    first.get_result(timeout=30)
    assert s.metric("slimlab_inference_exec_count_total", model="dense") == 1  # the expired one never ran
    assert s.metric("slimlab_inference_request_failure_total", model="dense", reason="timeout") == 1


def test_metrics_endpoint_has_the_counters(serve, dense_file: Path):
    import httpx

    s = serve(quick(dense_file))
    s.client().infer("dense", [infer_input(np.ones((2, 4), np.float32))])
    text = httpx.get(f"{s.url}/metrics").text
    for family in ("slimlab_inference_request_success_total", "slimlab_inference_queue_seconds_bucket",
                   "slimlab_inference_compute_seconds_bucket", "slimlab_inference_batch_size_bucket",
                   "slimlab_inference_exec_count_total", "slimlab_inference_request_seconds_bucket"):
        assert f'{family}{{le="' in text or f'{family}{{model="dense",version="1"' in text, family
    assert 'slimlab_inference_request_success_total{model="dense",version="1"} 1.0' in text
    assert 'slimlab_inference_batch_size_sum{model="dense",version="1"} 2.0' in text


def test_instances_compute_in_parallel(serve, dense_file: Path):
    """Two instances each take a batch while the other is busy (the least-loaded one gets the work)."""
    s = serve(quick(dense_file, max_batch_size=1, instance_count=2, threads_per_instance=1))
    mv = s.version("dense")
    inside = threading.Barrier(2, timeout=30)
    run = mv.pool._execute

    def both_at_once(sess, batch):
        inside.wait()  # passes only when both instances hold a batch at the same time
        run(sess, batch)

    mv.pool._execute = both_at_once
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(lambda _: s.client().infer("dense", [infer_input(np.ones((1, 4), np.float32))]), range(2)))
    assert s.metric("slimlab_inference_exec_count_total", model="dense") == 2


def test_many_concurrent_mixed_requests_each_get_their_own_rows(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=8, dynamic_batching=DynamicBatching((4, 8), 2000)))
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((int(rng.integers(1, 5)), 4)).astype(np.float32) for _ in range(200)]

    async def go() -> list[np.ndarray]:
        # the asyncio client (aiohttp): truly concurrent requests; the gevent one sends a binary request in two
        # writes, which Nagle's algorithm spaces ~10 ms apart, too slow to fill batches within 2 ms
        client = triton_aio.InferenceServerClient(s.hostport, conn_limit=16)
        try:
            async def one(x: np.ndarray) -> np.ndarray:
                i = triton_aio.InferInput("x", list(x.shape), "FP32")
                i.set_data_from_numpy(x)
                return (await client.infer("dense", [i])).as_numpy("y")

            return await asyncio.gather(*(one(x) for x in xs))
        finally:
            await client.close()

    ys = asyncio.run(go())
    dense = Dense()
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(y, dense.reference(x)[0], rtol=1e-5, atol=1e-5)
    assert s.metric("slimlab_inference_batch_size_sum", model="dense") == sum(len(x) for x in xs)
    # preferred size 4 sends a batch as soon as its rows reach 4 (about two requests): well under one run each
    assert s.metric("slimlab_inference_exec_count_total", model="dense") < len(xs) * 3 / 4
