"""KServe v2 over HTTP, spoken by tritonclient (a client we did not write): JSON and binary tensors."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from tritonclient.utils import InferenceServerException

import engine
from tests.serving.conftest import infer_input, quick
from tests.serving.models import Dense


def test_health_and_metadata_endpoints(serve, dense_file: Path):
    s = serve(quick(dense_file))
    c = s.client()
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("dense") and c.is_model_ready("dense", "1")
    assert not c.is_model_ready("dense", "2") and not c.is_model_ready("nope")
    meta = c.get_server_metadata()
    assert meta["name"] == "slimlab" and "binary_tensor_data" in meta["extensions"]
    m = c.get_model_metadata("dense")
    assert m["versions"] == ["1"] and m["platform"] == "slimlab_engine"
    assert m["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in m["outputs"]] == ["y", "z"]
    cfg = c.get_model_config("dense")
    assert cfg["max_batch_size"] == 8 and "dynamic_batching" in cfg
    assert cfg["slimlab"]["instance_plan"]["instances"] >= 1 and cfg["slimlab"]["instance_plan"]["reason"]
    assert [m["name"] for m in c.get_inference_statistics()["model_stats"]] == ["dense"]
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        c.get_inference_statistics("nope")


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False])
def test_infer_round_trip_equals_session_run(serve, dense_file: Path, binary_in: bool, binary_out: bool):
    s = serve(quick(dense_file))
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    outputs = [triton.InferRequestedOutput("z", binary_data=binary_out),
               triton.InferRequestedOutput("y", binary_data=binary_out)]
    r = s.client().infer("dense", [infer_input(x, binary_in)], outputs=outputs, request_id="req-7")
    y, z = engine.Session(dense_file).run(None, {"x": x})
    np.testing.assert_array_equal(r.as_numpy("y"), y)
    np.testing.assert_array_equal(r.as_numpy("z"), z)
    resp = r.get_response()
    assert resp["id"] == "req-7" and resp["model_version"] == "1"
    assert [o["name"] for o in resp["outputs"]] == ["z", "y"]  # the order asked for
    assert ("parameters" in resp["outputs"][0]) == binary_out


def test_all_outputs_binary_by_default_and_explicit_version(serve, dense_file: Path):
    s = serve(quick(dense_file))
    x = np.ones((2, 4), np.float32)
    r = s.client().infer("dense", [infer_input(x)], model_version="1")  # no outputs: binary_data_output
    ref_y, ref_z = Dense().reference(x)
    np.testing.assert_allclose(r.as_numpy("y"), ref_y, rtol=1e-6)
    np.testing.assert_allclose(r.as_numpy("z"), ref_z, rtol=1e-6)


def test_compressed_request_and_raw_json_with_nested_data(serve, dense_file: Path):
    s = serve(quick(dense_file))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    r = s.client().infer("dense", [infer_input(x, binary=False)], request_compression_algorithm="gzip")
    np.testing.assert_allclose(r.as_numpy("y"), Dense().reference(x)[0], rtol=1e-6)
    # a plain JSON client: nested data, no binary extension, JSON response
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": x.tolist()}]}
    resp = httpx.post(f"{s.url}/v2/models/dense/infer", json=body)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    out = {o["name"]: o for o in resp.json()["outputs"]}
    np.testing.assert_allclose(np.array(out["y"]["data"]).reshape(out["y"]["shape"]), Dense().reference(x)[0],
                               rtol=1e-6)
    raw = gzip.compress(json.dumps(body).encode())
    resp = httpx.post(f"{s.url}/v2/models/dense/infer", content=raw, headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 200


def test_mixed_binary_and_json_outputs_and_the_asyncio_client(serve, dense_file: Path):
    s = serve(quick(dense_file))
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    y_ref, z_ref = engine.Session(dense_file).run(None, {"x": x})

    async def go() -> triton.InferResult:
        client = triton_aio.InferenceServerClient(s.hostport)
        try:
            i = triton_aio.InferInput("x", [2, 4], "FP32")
            i.set_data_from_numpy(x, binary_data=True)
            outs = [triton_aio.InferRequestedOutput("y", binary_data=True),
                    triton_aio.InferRequestedOutput("z", binary_data=False)]
            return await client.infer("dense", [i], outputs=outs)
        finally:
            await client.close()

    r = asyncio.run(go())
    np.testing.assert_array_equal(r.as_numpy("y"), y_ref)
    np.testing.assert_array_equal(r.as_numpy("z"), z_ref)
    outputs = {o["name"]: o for o in r.get_response()["outputs"]}
    assert "parameters" in outputs["y"] and "data" in outputs["z"]
