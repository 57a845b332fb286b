"""Every kind of bad request gets the protocol's error naming the problem, while a load running beside it keeps
getting 100% success, and the server stays up."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from serving.models import InvalidInput
from serving.protocol import ProtocolError, decode_infer_request
from tests.serving.conftest import infer_input, quick
from tests.serving.models import Dense

X = np.arange(8, dtype=np.float32).reshape(2, 4)


def _binary(inputs: list[dict], blob: bytes, header_len: int | None = None) -> tuple[bytes, dict[str, str]]:
    head = json.dumps({"inputs": inputs}).encode()
    n = len(head) if header_len is None else header_len
    return head + blob, {"Inference-Header-Content-Length": str(n)}


def _x(**over) -> dict:
    t = {"name": "x", "shape": [2, 4], "datatype": "FP32", "data": X.ravel().tolist()}
    t.update(over)
    return {k: v for k, v in t.items() if v is not None}


def _nested(value: float, depth: int) -> list:
    for _ in range(depth):
        value = [value]
    return value


BAD = [
    # (case, path, body, headers, status, message fragment)
    ("unknown model", "/v2/models/nope/infer", {"inputs": [_x()]}, {}, 404, "unknown model 'nope'"),
    ("unknown version", "/v2/models/dense/versions/9/infer", {"inputs": [_x()]}, {}, 404, "unknown version '9'"),
    ("bad version", "/v2/models/dense/versions/abc/infer", {"inputs": [_x()]}, {}, 404, "unknown version 'abc'"),
    ("wrong input name", None, {"inputs": [_x(name="q")]}, {}, 400, "unknown input 'q'"),
    ("wrong dtype", None, {"inputs": [_x(datatype="INT32", data=[1] * 8)]}, {}, 400, "datatype INT32, the model "
                                                                                    "expects FP32"),
    ("unknown dtype", None, {"inputs": [_x(datatype="FLOAT")]}, {}, 400, "unknown datatype 'FLOAT'"),
    ("wrong rank", None, {"inputs": [_x(shape=[8])]}, {}, 400, "has shape [8]; the model expects [batch] + [4]"),
    ("wrong dim", None, {"inputs": [_x(shape=[4, 2])]}, {}, 400, "dim 1 differs"),
    ("data size", None, {"inputs": [_x(data=[1.0] * 7)]}, {}, 400, "'data' has 7 elements but shape needs 8"),
    ("data type", None, {"inputs": [_x(data=["a"] * 8)]}, {}, 400, "not FP32 values"),
    ("ragged data", None, {"inputs": [_x(data=[[1.0, 2.0], [3.0]])]}, {}, 400, "not a regular array"),
    ("no data", None, {"inputs": [_x(data=None)]}, {}, 400, "neither 'data' nor parameters.binary_data_size"),
    ("batch too big", None, {"inputs": [_x(shape=[9, 4], data=[0.0] * 36)]}, {}, 400,
     "batch size 9, more than the model's max_batch_size 8"),
    ("unknown output", None, {"inputs": [_x()], "outputs": [{"name": "w"}]}, {}, 400, "unknown output 'w'"),
    ("no inputs", None, {"inputs": []}, {}, 400, "'inputs' must be a non-empty list"),
    ("not an object", None, [1, 2], {}, 400, "must be a JSON object"),
    ("malformed json", None, b'{"inputs": [', {}, 400, "malformed request JSON"),
    ("deeply nested json", None, b'{"inputs": ' + b"[" * 100_000, {}, 400, "malformed request JSON"),
    ("deeply nested data", None, {"inputs": [_x(data=_nested(1.0, 70))]}, {}, 400, "not a regular array"),
    ("binary size mismatch", None, _binary([_x(data=None, parameters={"binary_data_size": 16})], b"\0" * 16),
     None, 400, "binary_data_size 16 does not match shape [2, 4] of FP32 (32 bytes)"),
    ("binary truncated", None, _binary([_x(data=None, parameters={"binary_data_size": 32})], b"\0" * 20),
     None, 400, "binary data truncated (20 of 32 bytes"),
    ("binary extra bytes", None, _binary([_x(data=None, parameters={"binary_data_size": 32})], b"\0" * 40),
     None, 400, "8 bytes after the last binary input"),
    ("header length past body", None, _binary([_x()], b"", header_len=10_000), None, 400,
     "Inference-Header-Content-Length is 10000 but the body has"),
    ("header length cuts json", None, _binary([_x()], b"", header_len=10), None, 400, "malformed request JSON"),
    ("binary without header", None, {"inputs": [_x(data=None, parameters={"binary_data_size": 32})]}, {}, 400,
     "has no Inference-Header-Content-Length header"),
    ("bytes tensor", None, {"inputs": [_x(datatype="BYTES")]}, {}, 400, "BYTES is not supported"),
    ("bad gzip", None, b"not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip data"),
    ("unknown route", "/v2/modelz", b"", {}, 404, "Not Found"),
]


def _send(client: httpx.Client, url: str, case: tuple) -> httpx.Response:
    _, path, body, headers, _, _ = case
    if isinstance(body, tuple):
        body, headers = body
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(url + (path or "/v2/models/dense/infer"), content=content, headers=headers or {})


def test_bad_requests_get_400_or_404_naming_the_problem_while_a_load_runs(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=8))
    stop = threading.Event()
    outcomes: list[bool] = []

    def load() -> None:
        c = s.client()
        x = np.ones((1, 4), np.float32)
        ref = Dense().reference(x)[0]
        while not stop.is_set() and len(outcomes) < 5000:
            try:
                r = c.infer("dense", [infer_input(x)])
                outcomes.append(bool(np.allclose(r.as_numpy("y"), ref, rtol=1e-6)))
            except Exception:
                outcomes.append(False)

    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers:
        w.start()
    failures = []
    try:
        with httpx.Client(timeout=30) as client:
            for case in BAD:
                r = _send(client, s.url, case)
                name, status, fragment = case[0], case[4], case[5]
                try:
                    message = r.json()["error"]
                except Exception:
                    message = f"<not a JSON error body: {r.text[:200]!r}>"
                if r.status_code != status or fragment not in message:
                    failures.append(f"{name}: {r.status_code} {message}")
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert not failures, "\n".join(failures)
    assert outcomes and all(outcomes), f"{outcomes.count(False)} of {len(outcomes)} background requests failed"
    assert s.client().is_server_live()


def test_a_truncated_body_or_a_client_that_hangs_up_does_not_disturb_the_server(serve, dense_file: Path):
    s = serve(quick(dense_file))
    host, port = s.hostport.split(":")
    head = json.dumps({"inputs": [_x(data=None, parameters={"binary_data_size": 32})]}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # promises 1000 bytes, sends fewer, then closes: the request must simply be dropped
        sock.sendall(b"POST /v2/models/dense/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                     b"Inference-Header-Content-Length: %d\r\n\r\n" % len(head) + head)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v2/models/dense/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n{\"in")
        reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 400") and b"malformed request JSON" in reply
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")
    r = s.client().infer("dense", [infer_input(X)])
    assert r.as_numpy("y").shape == (2, 3)


def test_a_body_over_the_limit_is_refused_with_413(serve, dense_file: Path):
    s = serve(quick(dense_file), max_request_bytes=1000)
    r = httpx.post(f"{s.url}/v2/models/dense/infer", content=b"x" * 2000)
    assert r.status_code == 413 and "exceeds the server's limit of 1000 bytes" in r.json()["error"]


@pytest.mark.parametrize("value, fragment", [([300, 1, 2, 3, 4, 5, 6, 7], "outside the UINT8 range"),
                                             ([1.5] * 8, "holds floats, not UINT8")])
def test_json_values_are_not_silently_converted(serve, dense_file: Path, value: list, fragment: str):
    s = serve(quick(dense_file))
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "UINT8", "data": value}]}
    r = httpx.post(f"{s.url}/v2/models/dense/infer", json=body)
    assert r.status_code == 400 and fragment in r.json()["error"]


def test_random_corruptions_of_a_request_are_refused_cleanly(dense_file: Path):
    """Mutated bodies (bytes flipped, cut, extended, header length off) give ProtocolError or InvalidInput:
    the 400 path, never another exception (a 500)."""
    manager = quick(dense_file)
    assert manager.load_all() == {}
    mv = manager.resolve("dense", None)
    body, headers = _binary([_x(data=None, parameters={"binary_data_size": 32})], X.tobytes())
    head_len = int(headers["Inference-Header-Content-Length"])
    rng = np.random.default_rng(0)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(3000):
        b = bytearray(body)
        n = head_len
        op = rng.integers(4)
        if op == 0:
            for i in rng.integers(0, len(b), rng.integers(1, 4)):
                b[i] = rng.integers(256)
        elif op == 1:
            del b[rng.integers(0, len(b)):]
        elif op == 2:
            b += bytes(rng.integers(0, 256, rng.integers(1, 40), dtype=np.uint8))
        else:
            n += int(rng.integers(-20, 20))
        try:
            mv.prepare(decode_infer_request(bytes(b), str(n)))
            outcomes["ok"] += 1
        except (ProtocolError, InvalidInput):
            outcomes["refused"] += 1
    assert outcomes["refused"] > 1000 and outcomes["ok"] > 0, outcomes
    manager.shutdown()
