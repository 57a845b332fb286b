"""Soak: an open-loop load at a fixed fraction of the server's peak throughput, with every request accounted for.

    # find the peak with a closed-loop sweep, then ten minutes at 80 % of it
    python -m serving.soak --spawn model.slm --fraction 0.8 --duration 600 --out runs/soak
    # against a running server, at a rate you give
    python -m serving.soak --url http://127.0.0.1:8000 --model mnist --rate 400 --duration 60

Open loop: requests leave on a fixed schedule (``rate`` per second, split over client processes) whether or not
earlier ones have answered, so a server that falls behind shows as growing latency and refusals, not as a
slower client. At the end the client waits for every request it sent; the report counts sent, answered,
failed (by kind) and lost (sent but never answered), checks the server's own success and failure counters
against the client's, and gives p50/p90/p99 and the throughput of each minute. Writes ``soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import uvloop

from serving.loadgen import SpawnedServer, build_request, get_json, parse_shapes, run_point


@dataclass
class SoakResult:
    rate_rps: float
    duration_s: float
    sent: int
    answered: int
    failed: int
    lost: int
    error_kinds: dict[str, int]
    throughput_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # requests answered in each minute of the schedule (a slow drift shows here)
    per_minute_rps: list[float] = field(default_factory=list)
    # the server's counters over the soak: requests it answered with success, and with failure
    server_success: int | None = None
    server_failed: int | None = None
    peak_rps: float | None = None
    fraction: float | None = None
    # the first few client-side exceptions, with their messages
    error_samples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing failed, nothing lost, and the server counted what the client saw."""
        server_ok = self.server_success is None or (self.server_success == self.answered
                                                    and (self.server_failed or 0) == 0)
        return self.failed == 0 and self.lost == 0 and self.sent > 0 and server_ok


async def _open_loop(url: str, body: bytes, headers: dict[str, str], rate: float, duration_s: float,
                     offset_s: float, drain_s: float, connections: int) -> dict[str, Any]:
    interval = 1.0 / rate
    total = int(duration_s * rate)
    done: list[tuple[float, float]] = []  # (send time from start, latency)
    errors: Counter[str] = Counter()
    samples: list[str] = []
    # a fixed pool of keep-alive connections, as a fleet of clients would hold: a request that finds them all
    # busy waits for one, and that wait counts in its latency (its clock starts at the scheduled send)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=drain_s)) as session:

        async def one(at: float) -> None:
            t0 = time.monotonic()
            try:
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    kind = None if r.status == 200 else f"HTTP {r.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                kind = type(exc).__name__
                if len(samples) < 5:
                    samples.append(f"{kind}: {exc}")
            if kind is None:
                done.append((at, time.monotonic() - t0))
            else:
                errors[kind] += 1

        start = time.monotonic()
        tasks = []
        for i in range(total):
            at = offset_s + i * interval
            delay = start + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(at)))
        # every request gets the client timeout to answer; what is still pending after it is lost
        finished, pending = await asyncio.wait(tasks, timeout=drain_s + 5) if tasks else (set(), set())
        for t in pending:
            t.cancel()
    return {"sent": total, "done": done, "errors": dict(errors), "samples": samples, "pending": len(pending)}


def _open_loop_process(args: tuple[str, bytes, dict[str, str], float, float, float, float, int]) -> dict[str, Any]:
    return uvloop.run(_open_loop(*args))


def _server_counts(base: str) -> tuple[int, int] | None:
    try:
        stats = get_json(f"{base}/stats")["model_stats"]
    except Exception:  # a server without the statistics extension: the client's counts stand alone
        return None
    return (sum(m["inference_stats"]["success"]["count"] for m in stats),
            sum(m["inference_stats"]["fail"]["count"] for m in stats))


def soak(url: str, model: str, rate: float, duration_s: float, *, version: str | None = None, batch: int = 1,
         binary: bool = True, shapes: dict[str, list[int]] | None = None, processes: int = 1,
         drain_s: float = 30.0, connections: int = 64) -> SoakResult:
    """Sends ``rate`` requests per second for ``duration_s`` and accounts for each of them."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError(f"the soak needs a positive rate and duration, got rate={rate}, duration={duration_s}")
    base = f"{url.rstrip('/')}/v2/models/{model}" + (f"/versions/{version}" if version else "")
    body, headers = build_request(get_json(base), batch, binary, shapes or {})
    before = _server_counts(base)
    processes = max(1, processes)
    # process i sends at offsets i/rate, i/rate + processes/rate, ...: together one evenly spaced stream
    jobs = [(f"{base}/infer", body, headers, rate / processes, duration_s, i / rate, drain_s,
             max(1, connections // processes)) for i in range(processes)]
    if processes == 1:
        parts = [uvloop.run(_open_loop(*jobs[0]))]
    else:
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as ex:
            parts = list(ex.map(_open_loop_process, jobs))
    after = _server_counts(base)
    done = [d for p in parts for d in p["done"]]
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
    sent = sum(p["sent"] for p in parts)
    lat = np.array([d[1] for d in done]) * 1e3
    minutes = max(1, math.ceil(duration_s / 60))
    per_minute = [0] * minutes
    for at, _ in done:
        per_minute[min(int(at // 60), minutes - 1)] += 1
    spans = [min(60.0, duration_s - 60 * m) for m in range(minutes)]

    def pct(q: float) -> float:
        return float(np.percentile(lat, q)) if len(lat) else math.nan

    failed = sum(errors.values())
    result = SoakResult(rate, duration_s, sent, len(done), failed, sent - len(done) - failed, dict(errors),
                        len(done) / duration_s, pct(50), pct(90), pct(99), float(lat.max()) if len(lat) else math.nan,
                        [n / s for n, s in zip(per_minute, spans)])
    result.error_samples = [m for p in parts for m in p["samples"]][:10]
    if before is not None and after is not None:
        result.server_success, result.server_failed = after[0] - before[0], after[1] - before[1]
    return result


def peak_throughput(url: str, model: str, concurrencies: list[int], duration_s: float,
                    processes: int) -> tuple[float, int]:
    """The best closed-loop throughput over ``concurrencies`` and the concurrency that gave it."""
    base = f"{url.rstrip('/')}/v2/models/{model}"
    body, headers = build_request(get_json(base), 1, True, {})
    best = (0.0, 0)
    for c in concurrencies:
        p = run_point(f"{base}/infer", body, headers, c, warmup_s=1.0, duration_s=duration_s, processes=processes,
                      label="peak", rows=1)
        print(f"peak search  c={c:<4} {p.throughput_rps:9.1f} req/s  p99 {p.p99_ms:8.3f} ms  errors {p.errors}")
        best = max(best, (p.throughput_rps, c))
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--spawn", type=Path, help="an engine file: start slimlab-serve on it for the soak")
    p.add_argument("--model", help="model name (with --url)")
    p.add_argument("--rate", type=float, help="requests per second; without it, --fraction of the measured peak")
    p.add_argument("--fraction", type=float, default=0.8, help="share of the peak throughput to send (0-1]")
    p.add_argument("--peak-concurrency", default="1,2,4,8,16,32", help="closed-loop sweep that finds the peak")
    p.add_argument("--peak-duration", type=float, default=5.0, help="seconds per point of that sweep")
    p.add_argument("--duration", type=float, default=600.0, help="seconds of open-loop load")
    p.add_argument("--processes", type=int, default=1, help="client processes sharing the rate")
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections shared by the requests")
    p.add_argument("--shape", action="append", default=[], help="NAME=d0,d1,... for inputs with variable dims")
    p.add_argument("--out", type=Path, default=Path("runs/soak") / time.strftime("%Y-%m-%d_%H-%M-%S"))
    s = p.add_argument_group("with --spawn")
    s.add_argument("--max-queue-delay-us", type=int, default=0)
    s.add_argument("--no-dynamic-batching", action="store_true")
    s.add_argument("--instances", type=int)
    s.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    if not 0 < args.fraction <= 1:
        p.error(f"--fraction must be in (0, 1], got {args.fraction}")
    server = None
    if args.spawn:
        extra = [f"--max-queue-delay-us={args.max_queue_delay_us}"]
        extra += ["--no-dynamic-batching"] if args.no_dynamic_batching else []
        extra += [f"--{k}={v}" for k, v in (("instances", args.instances), ("threads", args.threads)) if v]
        server = SpawnedServer(args.spawn, args.spawn.stem, extra)
        url, model = server.url, args.spawn.stem
    else:
        if not args.model:
            p.error("--url needs --model")
        url, model = args.url, args.model
    try:
        peak = None
        rate = args.rate
        if rate is None:
            concurrencies = [int(c) for c in args.peak_concurrency.split(",") if c.strip()]
            peak, _ = peak_throughput(url, model, concurrencies, args.peak_duration, args.processes)
            rate = args.fraction * peak
        print(f"soak: {rate:.1f} req/s for {args.duration:.0f} s" + (f" ({args.fraction:.0%} of {peak:.1f})"
                                                                     if peak else ""))
        result = soak(url, model, rate, args.duration, shapes=parse_shapes(args.shape), processes=args.processes,
                      connections=args.connections)
        result.peak_rps, result.fraction = peak, (args.fraction if peak else None)
    finally:
        if server is not None:
            server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {**asdict(result), "clean": result.clean, "model": str(args.spawn or model)}
    tmp = args.out / "soak.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(args.out / "soak.json")
    print(f"sent {result.sent}, answered {result.answered}, failed {result.failed} {result.error_kinds or ''}, "
          f"lost {result.lost}; server counted {result.server_success} ok / {result.server_failed} failed; "
          f"{result.throughput_rps:.1f} req/s, p50 {result.p50_ms:.3f} ms, p99 {result.p99_ms:.3f} ms, "
          f"max {result.max_ms:.1f} ms")
    for sample in result.error_samples:
        print(f"  client error: {sample}")
    print(f"wrote {args.out / 'soak.json'}")
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
