"""Load generator: sweeps client concurrency against a KServe v2 server and reports throughput and latency.

    # against a running server
    python -m serving.loadgen --url http://127.0.0.1:8000 --model mnist --concurrency 1,2,4,8,16 --duration 5
    # start slimlab-serve on an engine file itself, once with dynamic batching and once without
    python -m serving.loadgen --spawn model.slm --compare-batching --max-queue-delay-us 500 --out runs/loadgen

Closed loop: each of N workers sends its next request when the previous one answered (aiohttp on uvloop; the
request body is built once, binary tensors by default). After a warm-up, requests that complete inside the
measured window count; the server's statistics endpoint gives each point's mean batch size, queue and compute
time. Writes ``loadgen.json``, ``loadgen.csv`` and ``loadgen.png`` (throughput and p50/p99 latency against
concurrency, one curve per server setting) to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import uvloop

from serving.instances import usable_cores
from serving.repository import KSERVE_TO_NUMPY


@dataclass
class Point:
    label: str
    concurrency: int
    requests: int  # completed inside the measured window
    errors: int
    error_kinds: dict[str, int]
    duration_s: float
    throughput_rps: float
    rows_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    # from the server's statistics (Triton's extension) over the point, warm-up included; NaN without it
    server_mean_batch_rows: float = math.nan
    server_queue_ms: float = math.nan
    server_compute_ms: float = math.nan


def build_request(meta: dict[str, Any], batch: int, binary: bool, shapes: dict[str, list[int]],
                  seed: int = 0) -> tuple[bytes, dict[str, str]]:
    """One infer request body for the model described by ``meta`` (KServe model metadata)."""
    rng = np.random.default_rng(seed)
    tensors, blobs = [], []
    for t in meta["inputs"]:
        shape = list(shapes.get(t["name"]) or t["shape"])
        if shape and shape[0] == -1:  # the batch dim of a batching model
            shape[0] = batch
        if any(d < 0 for d in shape):
            raise SystemExit(f"input '{t['name']}' has variable dims {t['shape']}: give --shape {t['name']}=...")
        dtype = np.dtype(KSERVE_TO_NUMPY[t["datatype"]])
        arr = (rng.standard_normal(shape) * 4).astype(dtype) if dtype.kind != "b" else rng.random(shape) > 0.5
        entry: dict[str, Any] = {"name": t["name"], "shape": list(shape), "datatype": t["datatype"]}
        if binary:
            raw = arr.astype(dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = arr.ravel().tolist()
        tensors.append(entry)
    doc: dict[str, Any] = {"inputs": tensors}
    if binary:
        doc["parameters"] = {"binary_data_output": True}
    head = json.dumps(doc).encode()
    headers = {"Content-Type": "application/octet-stream" if binary else "application/json"}
    if binary:
        headers["Inference-Header-Content-Length"] = str(len(head))
    return head + b"".join(blobs), headers


async def _drive(url: str, body: bytes, headers: dict[str, str], workers: int, warmup_s: float,
                 duration_s: float) -> tuple[list[float], dict[str, int], int]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    start = time.monotonic()
    window = (start + warmup_s, start + warmup_s + duration_s)
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def worker() -> None:
            while True:
                t0 = time.monotonic()
                if t0 >= window[1]:
                    return
                try:
                    async with session.post(url, data=body, headers=headers) as r:
                        await r.read()
                        kind = None if r.status == 200 else f"HTTP {r.status}"
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    kind = type(exc).__name__
                t1 = time.monotonic()
                if window[0] <= t1 < window[1]:
                    if kind is None:
                        latencies.append(t1 - t0)
                    else:
                        errors[kind] += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, dict(errors), len(latencies)


def _drive_process(args: tuple[str, bytes, dict[str, str], int, float, float]) -> tuple[list[float], dict[str, int],
                                                                                        int]:
    return uvloop.run(_drive(*args))


def run_point(url: str, body: bytes, headers: dict[str, str], concurrency: int, *, warmup_s: float,
              duration_s: float, processes: int, label: str, rows: int) -> Point:
    """One closed-loop measurement at ``concurrency`` workers, spread over ``processes`` client processes."""
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    if processes == 1:
        parts = [uvloop.run(_drive(url, body, headers, concurrency, warmup_s, duration_s))]
    else:
        # the client's own CPU cost caps what one Python process can send: several processes lift the cap
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as ex:
            parts = list(ex.map(_drive_process, [(url, body, headers, n, warmup_s, duration_s) for n in shares]))
    lat = np.array([x for p in parts for x in p[0]]) * 1e3
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p[1])
    n = len(lat)

    def pct(q: float) -> float:
        return float(np.percentile(lat, q)) if n else math.nan

    return Point(label, concurrency, n, sum(errors.values()), dict(errors), duration_s, n / duration_s,
                 n * rows / duration_s, pct(50), pct(90), pct(99), float(lat.mean()) if n else math.nan)


def sweep(url: str, model: str, concurrencies: list[int], *, version: str | None = None, batch: int = 1,
          binary: bool = True, shapes: dict[str, list[int]] | None = None, warmup_s: float = 1.0,
          duration_s: float = 5.0, processes: int = 1, label: str = "server",
          log: Any = print) -> tuple[list[Point], dict[str, Any]]:
    """Measures each concurrency in turn; returns the points and the server's model config."""
    base = f"{url.rstrip('/')}/v2/models/{model}" + (f"/versions/{version}" if version else "")
    meta, config = get_json(base), get_json(f"{base}/config")
    body, headers = build_request(meta, batch, binary, shapes or {})
    try:
        urllib.request.urlopen(urllib.request.Request(f"{base}/infer", body, headers), timeout=60).read()
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"the server refused the load's request: {exc.code} {exc.read()[:500]!r}") from None
    points = []
    for c in concurrencies:
        before = _stats(base)
        p = run_point(f"{base}/infer", body, headers, c, warmup_s=warmup_s, duration_s=duration_s,
                      processes=processes, label=label, rows=batch)
        after = _stats(base)
        if before and after:
            d = {k: after[k] - before[k] for k in after}
            p.server_mean_batch_rows = d["rows"] / d["execs"] if d["execs"] else math.nan
            p.server_queue_ms = d["queue_ns"] / d["requests"] / 1e6 if d["requests"] else math.nan
            p.server_compute_ms = d["compute_ns"] / d["requests"] / 1e6 if d["requests"] else math.nan
        log(f"{label:>24}  c={c:<4} {p.throughput_rps:9.1f} req/s  p50 {p.p50_ms:8.3f} ms  p90 {p.p90_ms:8.3f} ms  "
            f"p99 {p.p99_ms:8.3f} ms  errors {p.errors}  batch {p.server_mean_batch_rows:5.2f}")
        points.append(p)
    return points, config


def _stats(base: str) -> dict[str, int] | None:
    """Summed counters of the model's statistics endpoint, or None where the server has none."""
    try:
        model_stats = get_json(f"{base}/stats")["model_stats"]
    except (urllib.error.URLError, KeyError, ValueError):
        return None
    total = {"rows": 0, "execs": 0, "requests": 0, "queue_ns": 0, "compute_ns": 0}
    for m in model_stats:
        s = m["inference_stats"]
        total["rows"] += m["inference_count"]
        total["execs"] += m["execution_count"]
        total["requests"] += s["success"]["count"]
        total["queue_ns"] += s["queue"]["ns"]
        total["compute_ns"] += s["compute_infer"]["ns"]
    return total


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


class SpawnedServer:
    """``slimlab-serve --model FILE`` in a subprocess on a free loopback port."""

    def __init__(self, model_file: Path, name: str, extra: list[str]) -> None:
        cmd = [sys.executable, "-m", "serving.cli", "--model", str(model_file), "--name", name, "--http-port", "0",
               "--log-level", "warning", *extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=Path(__file__).resolve().parents[1])
        self.url = ""
        assert self.proc.stderr is not None
        seen = []
        for line in self.proc.stderr:
            seen.append(line)
            if "serving on http://" in line:
                self.url = "http://" + line.strip().rsplit("http://", 1)[1]
                break
        if not self.url:
            raise SystemExit("slimlab-serve did not start:\n" + "".join(seen[-20:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stderr:
            self.proc.stderr.close()


def batching_gain(points: list[Point], batched: str, unbatched: str) -> dict[str, Any] | None:
    """Throughput dynamic batching adds at equal tail latency.

    The p99 budget is that of the unbatched server's best-throughput point; the batched server's figure is its
    best throughput among points whose p99 stays within that budget (measured points only, no interpolation).
    None when either curve is missing or no batched point meets the budget.
    """
    plain = [p for p in points if p.label == unbatched and p.requests]
    batch = [p for p in points if p.label == batched and p.requests]
    if not plain or not batch:
        return None
    ref = max(plain, key=lambda p: p.throughput_rps)
    within = [p for p in batch if p.p99_ms <= ref.p99_ms]
    if not within:
        return None
    best = max(within, key=lambda p: p.throughput_rps)
    return {"p99_budget_ms": ref.p99_ms, "unbatched_rps": ref.throughput_rps,
            "unbatched_concurrency": ref.concurrency, "batched_rps": best.throughput_rps,
            "batched_p99_ms": best.p99_ms, "batched_concurrency": best.concurrency,
            "batched_mean_batch_rows": best.server_mean_batch_rows,
            "gain": best.throughput_rps / ref.throughput_rps}


def write_results(out: Path, points: list[Point], meta: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "loadgen.json", out / "loadgen.csv"]
    (out / "loadgen.json").write_text(json.dumps({**meta, "points": [asdict(p) for p in points]}, indent=2))
    with (out / "loadgen.csv").open("w", newline="") as f:
        fields = [k for k in asdict(points[0]) if k != "error_kinds"] if points else []
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        for p in points:
            w.writerow(asdict(p))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'slimlab[plots]'): no plot", file=sys.stderr)
        return written
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label in dict.fromkeys(p.label for p in points):
        pts = [p for p in points if p.label == label]
        xs = [p.concurrency for p in pts]
        ax1.plot(xs, [p.throughput_rps for p in pts], marker="o", label=label)
        line = ax2.plot(xs, [p.p50_ms for p in pts], marker="o", label=f"{label} p50")[0]
        ax2.plot(xs, [p.p99_ms for p in pts], marker="x", linestyle="--", color=line.get_color(),
                 label=f"{label} p99")
    ticks = sorted({p.concurrency for p in points})
    for ax, ylabel in ((ax1, "throughput (requests/s)"), (ax2, "latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax2.set_yscale("log")
    fig.suptitle(f"{meta.get('model', '')}: closed-loop load, {meta.get('duration_s', '')} s per point")
    fig.tight_layout()
    fig.savefig(out / "loadgen.png", dpi=120)
    plt.close(fig)
    return [*written, out / "loadgen.png"]


def parse_shapes(items: list[str]) -> dict[str, list[int]]:
    shapes = {}
    for item in items:
        name, _, dims = item.partition("=")
        shapes[name] = [int(d) for d in dims.split(",")]
    return shapes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving.loadgen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--spawn", type=Path, help="an engine file: start slimlab-serve on it for the sweep")
    p.add_argument("--model", help="model name (with --url)")
    p.add_argument("--model-version")
    p.add_argument("--concurrency", default="1,2,4,8,16,32", help="comma-separated worker counts")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per point")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each point")
    p.add_argument("--batch", type=int, default=1, help="rows per request")
    p.add_argument("--json", action="store_true", help="JSON tensors instead of the binary extension")
    p.add_argument("--shape", action="append", default=[], help="NAME=d0,d1,... for inputs with variable dims")
    p.add_argument("--processes", type=int, default=1, help="client processes sharing the workers")
    p.add_argument("--out", type=Path, default=Path("runs/loadgen") / time.strftime("%Y-%m-%d_%H-%M-%S"))
    s = p.add_argument_group("with --spawn")
    s.add_argument("--compare-batching", action="store_true", help="sweep with and without dynamic batching")
    s.add_argument("--max-batch-size", type=int)
    s.add_argument("--max-queue-delay-us", type=int, default=0)
    s.add_argument("--instances", type=int)
    s.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    shapes = parse_shapes(args.shape)
    kwargs = dict(version=args.model_version, batch=args.batch, binary=not args.json, shapes=shapes,
                  warmup_s=args.warmup, duration_s=args.duration, processes=args.processes)
    meta: dict[str, Any] = {"duration_s": args.duration, "warmup_s": args.warmup, "batch": args.batch,
                            "binary": not args.json, "client_processes": args.processes,
                            "cores": usable_cores(), "concurrency": concurrencies, "servers": []}
    points: list[Point] = []
    if args.url:
        if not args.model:
            p.error("--url needs --model")
        meta["model"] = args.model
        pts, config = sweep(args.url, args.model, concurrencies, label=args.model, **kwargs)
        points += pts
        meta["servers"].append({"label": args.model, "url": args.url, "config": config})
    else:
        name = args.spawn.stem
        meta["model"] = str(args.spawn)
        common = [f"--{k.replace('_', '-')}={v}" for k, v in (("max_batch_size", args.max_batch_size),
                                                                ("instances", args.instances),
                                                                ("threads", args.threads)) if v is not None]
        variants = [(f"dynamic batching {args.max_queue_delay_us} us",
                     [*common, f"--max-queue-delay-us={args.max_queue_delay_us}"])]
        if args.compare_batching:
            variants.append(("no batching", [*common, "--no-dynamic-batching"]))
        for label, extra in variants:
            server = SpawnedServer(args.spawn, name, extra)
            try:
                pts, config = sweep(server.url, name, concurrencies, label=label, **kwargs)
            finally:
                server.stop()
            points += pts
            meta["servers"].append({"label": label, "args": extra, "config": config})
        if args.compare_batching:
            gain = batching_gain(points, variants[0][0], variants[1][0])
            meta["batching_gain"] = gain
            if gain:
                print(f"at p99 <= {gain['p99_budget_ms']:.3f} ms (no batching's peak, "
                      f"c={gain['unbatched_concurrency']}): {gain['batched_rps']:.1f} req/s with dynamic batching "
                      f"(c={gain['batched_concurrency']}, "
                      f"mean batch {gain['batched_mean_batch_rows']:.2f}) vs {gain['unbatched_rps']:.1f} without: "
                      f"x{gain['gain']:.2f}")
            else:
                print("no dynamic-batching point stays within the p99 of no batching's peak")
    for path in write_results(args.out, points, meta):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
