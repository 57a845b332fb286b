"""Model and version life cycle: load, reload (a new version swapped in while serving), unload, and the path of
one inference request from decoded tensors to output rows.

A (re)load builds and warms every new version completely before it is published; publishing swaps the model's
version table in one assignment, and only then are the versions it replaced closed. A closed version refuses
new requests but its workers finish what it had queued, and a request that raced the swap (it resolved the old
version, then found it closed) is resubmitted to the current one, so a swap fails no request. A load that fails
leaves the model's current versions serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import engine
from serving.batcher import Closed, DynamicBatcher, Pending, Rejected, TimedOut
from serving.instances import BatchResult, InferenceFailed, InstancePlan, InstancePool, plan_instances
from serving.metrics import ServerMetrics, VersionMetrics, VersionStats
from serving.protocol import InferRequest
from serving.repository import (
    KSERVE_TO_NUMPY,
    ConfigError,
    ModelConfig,
    ModelSource,
    ResolvedConfig,
    TensorConfig,
    list_models,
    read_model,
    resolve_config,
)

log = logging.getLogger("serving")


class ServingError(Exception):
    """An error with its HTTP status; the message goes to the client as ``{"error": ...}``."""

    status = 500
    reason = "internal"


class NotFound(ServingError):
    status, reason = 404, "not_found"


class InvalidInput(ServingError):
    status, reason = 400, "invalid"


class Unavailable(ServingError):
    status, reason = 503, "overloaded"


class Timeout(ServingError):
    # Triton answers an expired request with UNAVAILABLE too; the message says which it was
    status, reason = 503, "timeout"


class LoadFailed(ServingError):
    status, reason = 400, "load"


@dataclass(eq=False)  # identity: versions are compared to tell reused ones from replaced ones
class ModelVersion:
    """One loaded version: its resolved config, instances and batcher."""

    name: str
    version: int
    config: ResolvedConfig
    plan: InstancePlan
    pool: InstancePool
    batcher: DynamicBatcher
    metrics: VersionMetrics
    stats: VersionStats
    fingerprint: tuple[Any, ...]
    _symbols: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    def metadata(self, all_versions: list[int]) -> dict[str, Any]:
        batch = [-1] if self.config.max_batch_size else []

        def tensors(specs: tuple[TensorConfig, ...]) -> list[dict[str, Any]]:
            return [{"name": t.name, "datatype": t.datatype, "shape": batch + list(t.dims)} for t in specs]

        return {"name": self.name, "versions": [str(v) for v in all_versions], "platform": "slimlab_engine",
                "inputs": tensors(self.config.inputs), "outputs": tensors(self.config.outputs),
                # not in KServe's schema; clients ignore keys they do not know
                "batching": {"max_batch_size": self.config.max_batch_size,
                             "dynamic": self.config.dynamic_batching is not None,
                             "reason": self.config.batching_reason}}

    def config_json(self) -> dict[str, Any]:
        """Triton's model config form, plus how this server decided batching and instances."""
        c = self.config
        doc: dict[str, Any] = {
            "name": self.name, "platform": "slimlab_engine", "backend": "slimlab",
            "max_batch_size": c.max_batch_size,
            "input": [t.to_json() for t in c.inputs], "output": [t.to_json() for t in c.outputs],
            "instance_group": [{"name": self.name, "kind": "KIND_CPU", "count": self.plan.instances}],
            "parameters": {"intra_op_thread_count": {"string_value": str(self.plan.threads)}},
            "slimlab": {"batching": c.batching_reason, "instance_plan": self.plan.to_json(),
                        "version": self.version},
        }
        if c.dynamic_batching is not None:
            doc["dynamic_batching"] = {
                "preferred_batch_size": list(c.dynamic_batching.preferred_batch_sizes),
                "max_queue_delay_microseconds": c.dynamic_batching.max_queue_delay_us,
                "default_queue_policy": {"max_queue_size": c.max_queue_size,
                                         "default_timeout_microseconds": c.default_timeout_us}}
        return doc

    def prepare(self, req: InferRequest) -> tuple[dict[str, np.ndarray], int, tuple[Any, ...]]:
        """Checks the request's tensors against the model: (feeds, rows, shape key) or InvalidInput."""
        c = self.config
        known = {t.name for t in c.inputs}
        for name in req.inputs:
            if name not in known:
                raise InvalidInput(f"unknown input '{name}' for model '{self.name}' (inputs: {sorted(known)})")
        feeds: dict[str, np.ndarray] = {}
        rows = 1
        batch_of: str | None = None
        for t in c.inputs:
            arr = req.inputs.get(t.name)
            if arr is None:
                raise InvalidInput(f"missing input '{t.name}' for model '{self.name}'")
            if arr.dtype != _NP[t.datatype]:
                got = _KS.get(arr.dtype, arr.dtype.name)
                raise InvalidInput(f"input '{t.name}' has datatype {got}, the model expects {t.datatype}")
            shape = arr.shape
            if c.max_batch_size:
                if len(shape) != len(t.dims) + 1:
                    raise InvalidInput(f"input '{t.name}' has shape {list(shape)}; the model expects "
                                       f"[batch] + {list(t.dims)}")
                if batch_of is None:
                    rows, batch_of = shape[0], t.name
                elif shape[0] != rows:
                    raise InvalidInput(f"input '{t.name}' has batch size {shape[0]} but '{batch_of}' has {rows}")
                if rows > c.max_batch_size:
                    raise InvalidInput(f"input '{t.name}' has batch size {rows}, more than the model's "
                                       f"max_batch_size {c.max_batch_size}")
                if rows == 0:
                    raise InvalidInput(f"input '{t.name}' has batch size 0")
                inner = shape[1:]
            else:
                if len(shape) != len(t.dims):
                    raise InvalidInput(f"input '{t.name}' has shape {list(shape)}; the model expects "
                                       f"{list(t.dims)} (it does not batch)")
                inner = shape
            for axis, (size, dim) in enumerate(zip(inner, t.dims)):
                if dim != -1 and size != dim:
                    raise InvalidInput(f"input '{t.name}' has shape {list(shape)}; the model expects "
                                       f"{([-1] if c.max_batch_size else []) + list(t.dims)} "
                                       f"(dim {axis + (1 if c.max_batch_size else 0)} differs)")
            feeds[t.name] = arr
        for symbol, uses in self._symbols.items():
            sizes = {feeds[n].shape[a] for n, a in uses}
            if len(sizes) > 1:
                raise InvalidInput(f"inputs {[n for n, _ in uses]} must agree on dim '{symbol}', got {sorted(sizes)}")
        if req.outputs is not None:
            names = {t.name for t in c.outputs}
            for o in req.outputs:
                if o.name not in names:
                    raise InvalidInput(f"unknown output '{o.name}' for model '{self.name}' (outputs: {sorted(names)})")
        key = tuple(a.shape[1:] if c.max_batch_size else a.shape for a in feeds.values())
        return feeds, (rows if c.max_batch_size else 1), key


_NP = {k: np.dtype(v) for k, v in KSERVE_TO_NUMPY.items()}
_KS = {v: k for k, v in _NP.items()}


def _fingerprint(path: Path, config: ModelConfig) -> tuple[Any, ...]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, config)


def _symbols(inputs: list[engine.TensorInfo], batched: bool) -> dict[str, list[tuple[str, int]]]:
    """Symbolic non-batch dims that several inputs share: the engine requires them to agree."""
    uses: dict[str, list[tuple[str, int]]] = {}
    for t in inputs:
        for axis, d in enumerate(t.shape):
            if isinstance(d, str) and not (batched and axis == 0):
                uses.setdefault(d, []).append((t.name, axis))
    return {s: u for s, u in uses.items() if len(u) > 1}


def load_version(source: ModelSource, version: int, path: Path, metrics: ServerMetrics,
                 cores: int | None = None) -> ModelVersion:
    """Loads, checks and warms one version; it serves once ``start`` has run. Errors name the file."""
    fingerprint = _fingerprint(path, source.config)
    where = source.config_path or path
    try:
        plan = plan_instances(source.config.instance_count, source.config.threads_per_instance, cores)
    except ValueError as exc:
        raise ConfigError(where, str(exc)) from None
    label = f"{source.name}/{version}"
    try:
        pool = InstancePool(path, plan, label)
    except engine.EngineError as exc:
        raise engine.EngineError(f"{path}: {exc}") from None
    config = resolve_config(source.config, pool.inputs, pool.outputs, where)
    db = config.dynamic_batching
    batcher = DynamicBatcher(config.max_batch_size, dynamic=db is not None,
                             preferred=db.preferred_batch_sizes if db else (),
                             max_delay_s=(db.max_queue_delay_us if db else 0) / 1e6,
                             max_queue_size=config.max_queue_size)
    vm = metrics.for_version(source.name, version)
    stats = VersionStats()

    def on_batch(rows: int, compute_s: float) -> None:
        vm.batch_size.observe(rows)
        vm.compute.observe(compute_s)
        vm.executions.inc()
        stats.batch_done(rows, compute_s)

    pool.attach(batcher, batched=config.max_batch_size > 0, on_batch=on_batch)
    sizes = sorted({1, config.max_batch_size, *(db.preferred_batch_sizes if db else ())} - {0})
    try:
        pool.warm_up(sizes if config.max_batch_size else [1])
    except engine.EngineError as exc:
        raise engine.EngineError(f"{path}: warm-up run failed: {exc}") from None
    metrics.queue_depth.labels(source.name, str(version)).set_function(lambda: batcher.depth)
    mv = ModelVersion(source.name, version, config, plan, pool, batcher, vm, stats, fingerprint,
                      _symbols(pool.inputs, config.max_batch_size > 0))
    log.info("%s: %s", label, config.batching_reason)
    log.info("%s: instance plan %d x %d thread(s): %s", label, plan.instances, plan.threads, plan.reason)
    return mv


@dataclass
class ModelEntry:
    name: str
    versions: dict[int, ModelVersion] = field(default_factory=dict)  # replaced whole, never mutated
    state: str = "UNAVAILABLE"
    reason: str = ""


class ModelManager:
    """The models a server serves; ``reader(name)`` gives a model's current source (config + files)."""

    def __init__(self, reader: Callable[[str], ModelSource], names: Callable[[], list[str]],
                 metrics: ServerMetrics | None = None, cores: int | None = None) -> None:
        self._reader = reader
        self._names = names
        self.metrics = metrics or ServerMetrics()
        self.cores = cores
        self.models: dict[str, ModelEntry] = {}
        self._lock = threading.Lock()  # one load/unload at a time
        self.accepting = True

    @classmethod
    def from_repository(cls, root: str | os.PathLike[str], **kwargs: Any) -> ModelManager:
        return cls(lambda name: read_model(root, name), lambda: list_models(root), **kwargs)

    @classmethod
    def from_file(cls, model_file: str | os.PathLike[str], config: ModelConfig, **kwargs: Any) -> ModelManager:
        """The quick path: one engine file served as version 1 of ``config.name``."""
        path = Path(model_file)

        def reader(name: str) -> ModelSource:
            if name != config.name:
                raise FileNotFoundError(f"this server serves only the model '{config.name}'")
            if not path.is_file():
                raise ConfigError(path, "engine file not found")
            return ModelSource(config.name, config, {1: path})

        return cls(reader, lambda: [config.name], **kwargs)

    # ---- life cycle (blocking; the app calls these from a worker thread) ------------------------------------

    def load_all(self) -> dict[str, str]:
        """Loads every model; returns the errors by model name (the other models load regardless)."""
        errors = {}
        for name in self._names():
            try:
                self.load(name)
            except (ServingError, OSError) as exc:
                errors[name] = str(exc)
            except Exception as exc:  # a bug in one model's load must not keep the others from loading
                log.exception("load of '%s' failed", name)
                errors[name] = f"{type(exc).__name__}: {exc}"
        return errors

    def load(self, name: str) -> None:
        """Loads or reloads ``name``: new or changed versions are loaded and warmed, then swapped in."""
        with self._lock:
            entry = self.models.get(name)
            try:
                source = self._reader(name)
                wanted = source.selected_versions()
                current = entry.versions if entry else {}
                new: dict[int, ModelVersion] = {}
                try:
                    for v, path in sorted(wanted.items()):
                        old = current.get(v)
                        if old is not None and old.fingerprint == _fingerprint(path, source.config):
                            new[v] = old
                        else:
                            new[v] = load_version(source, v, path, self.metrics, self.cores)
                except BaseException:
                    for mv in new.values():
                        if mv not in current.values():
                            mv.batcher.close()
                    raise
            except FileNotFoundError as exc:
                log.error("load of '%s' failed: %s", name, exc)
                if entry is None:
                    raise NotFound(str(exc)) from None
                entry.reason = str(exc)
                raise NotFound(str(exc)) from None
            except (ConfigError, engine.EngineError, OSError) as exc:
                log.error("load of '%s' failed: %s", name, exc)
                if entry is None:
                    self.models[name] = ModelEntry(name, {}, "UNAVAILABLE", str(exc))
                elif entry.versions:
                    entry.reason = f"reload failed, still serving versions {sorted(entry.versions)}: {exc}"
                else:
                    entry.reason = str(exc)
                raise LoadFailed(str(exc)) from None
            for mv in new.values():
                if mv not in current.values():
                    mv.pool.start()
                    self.metrics.model_ready.labels(name, str(mv.version)).set(1)
            if entry is None:
                entry = self.models[name] = ModelEntry(name)
            # the swap: requests resolving from here on get the new table
            entry.versions, entry.state, entry.reason = new, "READY", ""
            retired = [mv for v, mv in current.items() if new.get(v) is not mv]
            log.info("model '%s' ready, versions %s%s", name, sorted(new),
                     f" (retiring {[mv.version for mv in retired]})" if retired else "")
            self._retire(retired)

    def unload(self, name: str) -> None:
        with self._lock:
            entry = self.models.get(name)
            if entry is None or entry.state != "READY":
                raise NotFound(f"model '{name}' is not loaded")
            retired = list(entry.versions.values())
            entry.versions, entry.state, entry.reason = {}, "UNAVAILABLE", "unloaded"
            log.info("model '%s' unloaded", name)
            self._retire(retired)

    def _retire(self, versions: list[ModelVersion]) -> None:
        """Closes versions and waits until they finished what they accepted."""
        for mv in versions:
            mv.batcher.close()
        for mv in versions:
            mv.pool.join()
            self.metrics.model_ready.labels(mv.name, str(mv.version)).set(0)

    def shutdown(self) -> None:
        """Refuses new requests, then finishes every accepted one (graceful shutdown)."""
        self.accepting = False
        with self._lock:
            self._retire([mv for e in self.models.values() for mv in e.versions.values()])

    def index(self) -> list[dict[str, str]]:
        """Triton's repository index: every model in the repository and each loaded version's state."""
        try:
            names = set(self._names())
        except OSError:
            names = set()
        rows = []
        for name in sorted(names | set(self.models)):
            entry = self.models.get(name)
            if entry is None:
                rows.append({"name": name})
            elif entry.versions:
                note = {"reason": entry.reason} if entry.reason else {}  # e.g. a reload that failed
                rows += [{"name": name, "version": str(v), "state": "READY", **note} for v in sorted(entry.versions)]
            else:
                rows.append({"name": name, "state": entry.state, "reason": entry.reason})
        return rows

    # ---- requests ---------------------------------------------------------------------------------------

    def resolve(self, name: str, version: str | None) -> ModelVersion:
        entry = self.models.get(name)
        if entry is None or not entry.versions:
            state = f" ({entry.reason})" if entry is not None and entry.reason else ""
            raise NotFound(f"unknown model '{name}'{state}")
        versions = entry.versions
        if version is None or version == "":
            return versions[max(versions)]
        if not version.isdigit() or int(version) not in versions:
            raise NotFound(f"unknown version '{version}' of model '{name}' (loaded: {sorted(versions)})")
        return versions[int(version)]

    async def infer(self, name: str, version: str | None, req: InferRequest) -> tuple[ModelVersion, BatchResult]:
        """Queues the request on the version it resolves to and waits for its rows."""
        if not self.accepting:
            raise Unavailable("the server is shutting down")
        loop = asyncio.get_running_loop()
        while True:
            mv = self.resolve(name, version)
            feeds, rows, key = mv.prepare(req)
            timeout_us = req.timeout_us if req.timeout_us is not None else mv.config.default_timeout_us
            deadline = time.monotonic() + timeout_us / 1e6 if timeout_us else None
            fut = loop.create_future()

            def done(result: Any, fut: asyncio.Future = fut) -> None:
                loop.call_soon_threadsafe(_settle, fut, result)

            pending = Pending(feeds, rows, key, done, deadline)
            try:
                mv.batcher.submit(pending)
            except Closed:
                # raced a swap: the table already holds the replacement, unless the version asked for, or the
                # whole server, is going away (then there is nothing to fall back on)
                if version or not self.accepting or self.resolve(name, None) is mv:
                    raise Unavailable(f"model '{mv.label}' is being unloaded") from None
                continue
            except Rejected as exc:
                raise Unavailable(f"model '{mv.label}': {exc}") from None
            try:
                if deadline is None:
                    result = await fut
                else:
                    try:
                        result = await asyncio.wait_for(asyncio.shield(fut), max(0.0, deadline - time.monotonic()))
                    except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
                        if mv.batcher.cancel(pending):
                            raise Timeout(f"model '{mv.label}': the request timed out after {timeout_us} us "
                                          f"in the queue") from None
                        result = await fut  # it started before the deadline: let it finish
            except asyncio.CancelledError:
                mv.batcher.cancel(pending)  # the client went away: do not run it
                raise
            if isinstance(result, TimedOut):
                raise Timeout(f"model '{mv.label}': {result}")
            if isinstance(result, InferenceFailed):
                raise ServingError(f"model '{mv.label}': inference failed: {result}")
            if isinstance(result, BaseException):
                raise ServingError(f"model '{mv.label}': {result}")
            return mv, result


def _settle(fut: asyncio.Future, result: Any) -> None:
    if not fut.done():
        fut.set_result(result)

