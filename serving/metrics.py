"""The server's numbers: Prometheus metrics per model and version (``/metrics``), and Triton's statistics
extension (``/v2/models/{name}/stats``).

Each server has its own registry, so several servers in one process (tests) do not share counters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics", "VersionMetrics", "VersionStats"]

# Seconds; a loopback request of a small model takes ~0.1-1 ms, a big model's batch ~0.1 s.
_TIME_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LABELS = ("model", "version")


@dataclass
class VersionMetrics:
    """The children of one model version, bound once (label lookup per request would cost more)."""

    success: Any
    queue: Any
    compute: Any
    request: Any
    batch_size: Any
    executions: Any
    _failure: Any
    _labels: tuple[str, str]

    def failure(self, reason: str) -> None:
        self._failure.labels(*self._labels, reason).inc()


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.success = Counter("slimlab_inference_request_success", "Inference requests that succeeded",
                               _LABELS, registry=r)
        # reason: invalid (400), not_found (404), overloaded (503: queue full or unloading), timeout, internal
        self.failure = Counter("slimlab_inference_request_failure", "Inference requests that failed",
                               (*_LABELS, "reason"), registry=r)
        self.queue = Histogram("slimlab_inference_queue_seconds", "Time a request waited in the queue",
                               _LABELS, buckets=_TIME_BUCKETS, registry=r)
        self.compute = Histogram("slimlab_inference_compute_seconds",
                                 "Engine time of a batch (concatenate, Session.run, split)",
                                 _LABELS, buckets=_TIME_BUCKETS, registry=r)
        self.request = Histogram("slimlab_inference_request_seconds",
                                 "Time in the server from a decoded request to its encoded response",
                                 _LABELS, buckets=_TIME_BUCKETS, registry=r)
        self.batch_size = Histogram("slimlab_inference_batch_size", "Rows (batch dim) of each engine run",
                                    _LABELS, buckets=_BATCH_BUCKETS, registry=r)
        self.executions = Counter("slimlab_inference_exec_count", "Engine runs (batches)", _LABELS, registry=r)
        self.queue_depth = Gauge("slimlab_inference_queue_depth", "Requests waiting in the queue", _LABELS,
                                 registry=r)
        self.model_ready = Gauge("slimlab_model_ready", "1 while the version is loaded and serving", _LABELS,
                                 registry=r)

    def for_version(self, model: str, version: int) -> VersionMetrics:
        labels = (model, str(version))
        return VersionMetrics(
            self.success.labels(*labels), self.queue.labels(*labels), self.compute.labels(*labels),
            self.request.labels(*labels), self.batch_size.labels(*labels), self.executions.labels(*labels),
            self.failure, labels)

    def failure_unresolved(self, model: str, reason: str) -> None:
        """A request that named no loaded model: its name is not used as a label (clients choose it)."""
        self.failure.labels("", "", reason).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class VersionStats:
    """Triton's statistics extension (``GET v2/models/{name}/stats``) for one model version.

    Request figures are updated on the event loop thread only; batch figures come from the worker threads,
    under a lock.
    """

    def __init__(self) -> None:
        self.last_inference_ms = 0
        self.inference_count = 0  # rows
        self.execution_count = 0  # engine runs
        self.success = [0, 0]  # count, ns
        self.fail = [0, 0]
        self.queue = [0, 0]
        self.compute = [0, 0]
        self.batches: dict[int, list[int]] = {}  # rows -> [count, ns]
        self._lock = threading.Lock()

    def request_done(self, ok: bool, total_s: float, queue_s: float = 0.0, compute_s: float = 0.0) -> None:
        target = self.success if ok else self.fail
        target[0] += 1
        target[1] += int(total_s * 1e9)
        if ok:
            self.queue[0] += 1
            self.queue[1] += int(queue_s * 1e9)
            self.compute[0] += 1
            self.compute[1] += int(compute_s * 1e9)
        self.last_inference_ms = int(time.time() * 1000)

    def batch_done(self, rows: int, compute_s: float) -> None:
        with self._lock:
            self.execution_count += 1
            self.inference_count += rows
            b = self.batches.setdefault(rows, [0, 0])
            b[0] += 1
            b[1] += int(compute_s * 1e9)

    def to_json(self, name: str, version: int) -> dict[str, Any]:
        def d(pair: list[int]) -> dict[str, int]:
            return {"count": pair[0], "ns": pair[1]}

        zero = {"count": 0, "ns": 0}
        with self._lock:
            batches = [{"batch_size": rows, "compute_input": zero, "compute_infer": d(v), "compute_output": zero}
                       for rows, v in sorted(self.batches.items())]
            counts = (self.inference_count, self.execution_count)
        return {"name": name, "version": str(version), "last_inference": self.last_inference_ms,
                "inference_count": counts[0], "execution_count": counts[1],
                "inference_stats": {"success": d(self.success), "fail": d(self.fail), "queue": d(self.queue),
                                    "compute_input": zero, "compute_infer": d(self.compute),
                                    "compute_output": zero, "cache_hit": zero, "cache_miss": zero},
                "batch_stats": batches}
