"""Model instances: how many engine sessions and threads a version gets, and the worker threads that run them.

Each instance is one ``engine.Session`` driven by its own worker thread; ``Session.run`` releases the GIL, so
instances compute in parallel while the event loop keeps serving HTTP. A worker pulls the next batch from the
version's batcher only when it is idle, which is how a batch always lands on the least-loaded instance.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import engine
from serving.batcher import DynamicBatcher, Pending

log = logging.getLogger("serving")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class InstancePlan:
    instances: int
    threads: int
    cores: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"instances": self.instances, "threads_per_instance": self.threads, "cores": self.cores,
                "reason": self.reason}


def plan_instances(count: int | None, threads: int | None, cores: int | None = None) -> InstancePlan:
    """Instances x threads that fit the usable cores, honouring what the config fixed.

    Neither given: two instances (one computes while the other takes the next batch; Triton's CPU default)
    sharing the cores; one given: the other fills the cores. Both given and oversubscribing: kept, and said.
    """
    cores = cores or usable_cores()
    cap = engine.MAX_THREADS
    if count is None and threads is None:
        count = min(2, cores)
        threads = max(1, min(cap, cores // count))
        why = f"default: {count} instance(s) sharing the {cores} usable core(s), {threads} thread(s) each"
    elif count is None:
        assert threads is not None
        count = max(1, cores // threads)
        why = f"{threads} thread(s) per instance from the config; {count} instance(s) fill {cores} core(s)"
    elif threads is None:
        threads = max(1, min(cap, cores // count))
        why = f"{count} instance(s) from the config; {threads} thread(s) each fill {cores} core(s)"
    else:
        why = f"{count} instance(s) x {threads} thread(s) from the config"
    if threads > cap:
        raise ValueError(f"threads per instance {threads} exceeds the engine's maximum {cap}")
    if count * threads > cores:
        why += f" (oversubscribed: {count * threads} threads on {cores} core(s))"
    return InstancePlan(count, threads, cores, why + " [cores: os.sched_getaffinity]")


@dataclass
class BatchResult:
    """What a request gets back from the worker: its output rows and how its batch went."""

    outputs: list[np.ndarray]
    queue_s: float
    compute_s: float
    batch_rows: int


class InferenceFailed(Exception):
    """The engine refused or failed a run (HTTP 500: the inputs were checked before they were queued)."""


class InstancePool:
    """The sessions of one model version and their worker threads."""

    def __init__(self, model_file: str | Path, plan: InstancePlan, label: str) -> None:
        self.plan = plan
        self.label = label
        # the file is read once; each session gets the same bytes (a file rewritten during the load cannot mix)
        data = Path(model_file).read_bytes()
        self.sessions = [engine.Session(data, threads=plan.threads) for _ in range(plan.instances)]
        self.inputs = self.sessions[0].inputs
        self.outputs = self.sessions[0].outputs
        self.output_names = [o.name for o in self.outputs]
        self.batcher: DynamicBatcher | None = None
        self.batched = False
        self._on_batch: Callable[[int, float], None] | None = None
        self._threads: list[threading.Thread] = []

    def attach(self, batcher: DynamicBatcher, *, batched: bool,
               on_batch: Callable[[int, float], None] | None = None) -> None:
        """The queue the workers will pull from; ``on_batch(rows, compute seconds)`` per engine run."""
        self.batcher = batcher
        self.batched = batched
        self._on_batch = on_batch

    def warm_up(self, batch_sizes: Sequence[int]) -> None:
        """One run per session at each batch size, so the first requests do not pay for planning.

        Only static non-batch dims can be filled in; a model with other symbolic dims warms up on its first
        requests instead.
        """
        feeds_by_rows = []
        for rows in batch_sizes:
            feeds = {}
            for t in self.inputs:
                dims = list(t.shape)
                if self.batched:
                    dims[0] = rows
                if any(isinstance(d, str) for d in dims):
                    return
                feeds[t.name] = np.zeros(dims, dtype=t.dtype)
            feeds_by_rows.append(feeds)
        for sess in self.sessions:
            for feeds in feeds_by_rows:
                sess.run(None, feeds)

    def start(self) -> None:
        for i, sess in enumerate(self.sessions):
            t = threading.Thread(target=self._work, args=(sess,), name=f"{self.label}#{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def join(self, timeout: float | None = None) -> None:
        """Waits for the workers to drain the (closed) batcher and exit."""
        for t in self._threads:
            t.join(timeout)

    def _work(self, sess: engine.Session) -> None:
        assert self.batcher is not None, "attach() a batcher before start()"
        while True:
            batch = self.batcher.next_batch()
            if batch is None:
                return
            try:
                self._execute(sess, batch)
            except BaseException as exc:  # a worker must never die with requests waiting on it
                log.exception("%s: unexpected error running a batch", self.label)
                for p in batch:
                    p.on_done(InferenceFailed(f"internal error: {exc}"))

    def _execute(self, sess: engine.Session, batch: list[Pending]) -> None:
        start = time.monotonic()
        rows = sum(p.rows for p in batch)
        try:
            if len(batch) == 1:
                outs = sess.run(None, batch[0].inputs)
                splits = [outs]
            else:
                feeds = {t.name: np.concatenate([p.inputs[t.name] for p in batch]) for t in self.inputs}
                outs = sess.run(None, feeds)
                bounds = np.cumsum([0] + [p.rows for p in batch])
                splits = [[o[a:b] for o in outs] for a, b in zip(bounds[:-1], bounds[1:])]
        except engine.EngineError as exc:
            if len(batch) > 1:
                # one bad request must not fail the others it was batched with: run each alone
                for p in batch:
                    self._execute(sess, [p])
                return
            compute = time.monotonic() - start
            if self._on_batch:
                self._on_batch(rows, compute)
            batch[0].on_done(InferenceFailed(str(exc)))
            return
        compute = time.monotonic() - start
        if self._on_batch:
            self._on_batch(rows, compute)
        for p, outputs in zip(batch, splits):
            p.on_done(BatchResult(outputs, p.taken - p.enqueued, compute, rows))
