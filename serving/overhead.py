"""What the server adds over a bare ``Session.run``, at concurrency 1 on the binary tensor path.

    python -m serving.overhead --model model.slm --threads 1 --requests 3000 --out overhead.json

Measures, in interleaved blocks: ``Session.run`` in this process (same threads, same input); ``slimlab-serve``
on the same file (one instance) in a subprocess, with one keep-alive connection sending binary infer requests
one at a time; and ``GET /v2/health/live`` on that connection, the cost of an HTTP round trip alone.
Reports medians and their differences, and the overhead's median and range over the blocks:

* overhead = infer p50 - Session.run p50: everything a client pays for the server (HTTP both ways on
  loopback, parsing, queueing, the hand-off to the instance thread and back, encoding); the issue's target
  is 0.3 ms;
* in-server overhead = the server's own mean request time minus its compute time (from ``/metrics``): the
  part after the HTTP layer (decode, queue, hand-offs, encode).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import engine
from serving.loadgen import SpawnedServer, build_request
from serving.repository import KSERVE_TO_NUMPY

TARGET_MS = 0.3


def _timed(fn: Any, n: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out * 1e3


class RawConnection:
    """One keep-alive HTTP/1.1 connection that writes each request in a single send.

    http.client writes headers and body separately, so the server sees two reads per request and the
    measurement would include a cost of that client, not of the server.
    """

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = host
        self._buf = b""

    def prepare(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, raw: bytes) -> bytes:
        """Sends a prepared request; returns the response body (raises on a status other than 200)."""
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self._buf:
            self._recv()
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(m[1]) if m else 0
        while len(self._buf) < length:
            self._recv()
        body, self._buf = self._buf[:length], self._buf[length:]
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
        return body

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
        return self.send(self.prepare(method, path, body, headers))

    def _recv(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buf += chunk

    def close(self) -> None:
        self.sock.close()


def _metric_sums(text: str) -> dict[str, float]:
    sums = {}
    for name in ("request", "compute", "queue"):
        for part in ("sum", "count"):
            m = re.search(rf"^slimlab_inference_{name}_seconds_{part}{{[^}}]*}} (\S+)$", text, re.M)
            sums[f"{name}_{part}"] = float(m[1]) if m else 0.0
    return sums


def measure(model_file: Path, threads: int = 1, requests: int = 3000, warmup: int = 300,
            blocks: int = 10) -> dict[str, Any]:
    sess = engine.Session(model_file, threads=threads)
    server = SpawnedServer(model_file, "overhead", ["--instances", "1", "--threads", str(threads)])
    try:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        conn = RawConnection(host, int(port))
        meta = json.loads(conn.request("GET", "/v2/models/overhead"))
        body, headers = build_request(meta, 1, True, {})
        head_len = int(headers["Inference-Header-Content-Length"])
        doc = json.loads(body[:head_len])
        feeds, offset = {}, head_len
        for t in doc["inputs"]:  # the very tensors the server gets, for the bare run
            n = t["parameters"]["binary_data_size"]
            dtype = np.dtype(KSERVE_TO_NUMPY[t["datatype"]])
            feeds[t["name"]] = np.frombuffer(body[offset:offset + n], dtype=dtype).reshape(t["shape"]).copy()
            offset += n
        infer_request = conn.prepare("POST", "/v2/models/overhead/infer", body, headers)
        live_request = conn.prepare("GET", "/v2/health/live")

        def get(path: str) -> bytes:
            return conn.request("GET", path)

        runs = {"bare": lambda: sess.run(None, feeds), "infer": lambda: conn.send(infer_request),
                "live": lambda: conn.send(live_request)}
        for fn in runs.values():  # at most 2 s each: an idle keep-alive connection is closed after 5
            end, i = time.perf_counter() + 2.0, 0
            while i < warmup and time.perf_counter() < end:
                fn()
                i += 1
        # interleaved blocks: the three see the same machine state (a shared machine drifts over seconds), and
        # the connection is never idle long enough for the server's keep-alive timeout to close it
        per_block = max(1, requests // blocks)
        times: dict[str, list[np.ndarray]] = {k: [] for k in runs}
        before = _metric_sums(get("/metrics").decode())
        for b in range(blocks):
            order = list(runs) if b % 2 == 0 else list(reversed(runs))
            for name in order:
                times[name].append(_timed(runs[name], per_block, 0))
        after = _metric_sums(get("/metrics").decode())
        conn.close()
    finally:
        server.stop()
    bare, infer_ms, live = (np.concatenate(times[k]) for k in ("bare", "infer", "live"))
    block_overhead = [float(np.median(i) - np.median(r)) for i, r in zip(times["infer"], times["bare"])]
    d = {k: after[k] - before[k] for k in after}
    mean = {k: d[f"{k}_sum"] / d[f"{k}_count"] * 1e3 if d[f"{k}_count"] else float("nan")
            for k in ("request", "compute", "queue")}
    p50 = {name: float(np.median(a)) for name, a in (("bare", bare), ("infer", infer_ms), ("live", live))}
    result = {
        "model": str(model_file), "threads": threads, "requests": requests,
        "bare_run_p50_ms": p50["bare"], "infer_p50_ms": p50["infer"],
        "infer_p90_ms": float(np.percentile(infer_ms, 90)), "infer_p99_ms": float(np.percentile(infer_ms, 99)),
        "http_round_trip_p50_ms": p50["live"],
        "overhead_p50_ms": p50["infer"] - p50["bare"],
        "overhead_blocks_ms": {"median": float(np.median(block_overhead)), "min": min(block_overhead),
                               "max": max(block_overhead), "blocks": len(block_overhead)},
        "in_server_mean_ms": mean["request"] - mean["compute"],
        "server_compute_mean_ms": mean["compute"], "server_queue_mean_ms": mean["queue"],
        "target_ms": TARGET_MS,
    }
    result["target_met"] = result["overhead_p50_ms"] <= TARGET_MS
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving.overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="an engine file (.slm)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args(argv)
    r = measure(args.model, args.threads, args.requests)
    print(f"Session.run p50          {r['bare_run_p50_ms']:.3f} ms")
    print(f"infer over HTTP p50      {r['infer_p50_ms']:.3f} ms (p90 {r['infer_p90_ms']:.3f}, "
          f"p99 {r['infer_p99_ms']:.3f})")
    print(f"HTTP round trip p50      {r['http_round_trip_p50_ms']:.3f} ms (GET /v2/health/live)")
    print(f"overhead p50             {r['overhead_p50_ms']:.3f} ms (target {TARGET_MS} ms: "
          f"{'met' if r['target_met'] else 'NOT met'})")
    b = r["overhead_blocks_ms"]
    print(f"  over {b['blocks']} interleaved blocks: median {b['median']:.3f} ms, range {b['min']:.3f} to "
          f"{b['max']:.3f} ms")
    print(f"  of which in the server {r['in_server_mean_ms']:.3f} ms (mean: request time - compute time)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(r, indent=2))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
