"""The ASGI application: KServe v2 HTTP/REST routes, Triton's repository and config extensions, ``/metrics``.

Every error is ``{"error": "..."}`` with its status: 400 bad request, 404 unknown model/version/route, 413 body
too large, 503 overloaded (queue full), unloading, timed out or shutting down, 500 engine failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from serving.metrics import CONTENT_TYPE_LATEST
from serving.models import ModelManager, ModelVersion, NotFound, ServingError
from serving.protocol import HEADER_LENGTH, ProtocolError, decode_infer_request, decompress, encode_infer_response

log = logging.getLogger("serving")

DEFAULT_MAX_REQUEST_BYTES = 64 << 20
EXTENSIONS = ["binary_tensor_data", "model_repository", "model_configuration", "schedule_policy", "statistics"]


def _version() -> str:
    try:
        return version("slimlab")
    except PackageNotFoundError:  # a checkout that was not pip-installed
        return "0.1.0"


class _TooLarge(ServingError):
    status, reason = 413, "invalid"


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status_code=status, media_type="application/json")


def _json(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")), status_code=status, media_type="application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _TooLarge(f"request body of {length} bytes exceeds the server's limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"request body exceeds the server's limit of {limit} bytes")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def build_app(manager: ModelManager, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
              load_on_startup: bool = True, exit_on_error: bool = False) -> Starlette:
    """The server's ASGI app over ``manager``; with ``load_on_startup`` it loads every model at startup (a
    model that fails is logged and left unavailable, or, with ``exit_on_error``, the server does not start) and
    finishes accepted requests at shutdown (the ASGI lifespan)."""
    state = {"ready": not load_on_startup}
    metrics = manager.metrics
    server_metadata = json.dumps({"name": "slimlab", "version": _version(), "extensions": EXTENSIONS})

    def count_failure(name: str, version: str | None, reason: str, start: float) -> None:
        try:
            mv = manager.resolve(name, version)
        except NotFound:
            metrics.failure_unresolved(name, reason)
            return
        mv.metrics.failure(reason)
        mv.stats.request_done(False, time.monotonic() - start)

    async def infer(request: Request) -> Response:
        p = request.path_params
        name, version = p["name"], p.get("version")
        start = time.monotonic()
        try:
            body = await _read_body(request, max_request_bytes)
            start = time.monotonic()
            body = decompress(body, request.headers.get("content-encoding"), max_request_bytes)
            req = decode_infer_request(body, request.headers.get(HEADER_LENGTH))
            mv, result = await manager.infer(name, version, req)
            names = mv.pool.output_names
            if req.outputs is None:
                chosen = [(n, arr, req.binary_output) for n, arr in zip(names, result.outputs)]
            else:
                index = {n: i for i, n in enumerate(names)}
                chosen = [(o.name, result.outputs[index[o.name]], o.binary) for o in req.outputs]
            content, headers = encode_infer_response(name, mv.version, req.id, chosen)
        except ProtocolError as exc:
            count_failure(name, version, "invalid", start)
            return _error(400, str(exc))
        except ServingError as exc:
            count_failure(name, version, exc.reason, start)
            if exc.status >= 500 and exc.reason == "internal":
                log.error("%s", exc)
            return _error(exc.status, str(exc))
        except ClientDisconnect:
            return _error(400, "client disconnected")
        except Exception as exc:  # a bug, not the request's fault: counted and logged, the server goes on
            count_failure(name, version, "internal", start)
            log.exception("infer on '%s' failed", name)
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")
        m = mv.metrics
        elapsed = time.monotonic() - start
        m.queue.observe(result.queue_s)
        m.request.observe(elapsed)
        m.success.inc()
        mv.stats.request_done(True, elapsed, result.queue_s, result.compute_s)
        return Response(content, headers=headers)

    def version_of(request: Request) -> ModelVersion:
        p = request.path_params
        return manager.resolve(p["name"], p.get("version"))

    async def model_metadata(request: Request) -> Response:
        try:
            mv = version_of(request)
        except ServingError as exc:
            return _error(exc.status, str(exc))
        return _json(mv.metadata(sorted(manager.models[mv.name].versions)))

    async def model_config(request: Request) -> Response:
        try:
            return _json(version_of(request).config_json())
        except ServingError as exc:
            return _error(exc.status, str(exc))

    async def model_ready(request: Request) -> Response:
        try:
            version_of(request)
        except ServingError as exc:
            return _error(400, str(exc))  # Triton: 400 for a model that is not ready
        return Response(status_code=200)

    async def statistics(request: Request) -> Response:
        p = request.path_params
        if "name" not in p:
            chosen = [mv for e in manager.models.values() for mv in e.versions.values()]
        elif "version" in p:
            try:
                chosen = [manager.resolve(p["name"], p["version"])]
            except ServingError as exc:
                return _error(exc.status, str(exc))
        else:
            entry = manager.models.get(p["name"])
            if entry is None or not entry.versions:
                return _error(404, f"unknown model '{p['name']}'")
            chosen = list(entry.versions.values())
        chosen.sort(key=lambda mv: (mv.name, mv.version))
        return _json({"model_stats": [mv.stats.to_json(mv.name, mv.version) for mv in chosen]})

    async def server_meta(request: Request) -> Response:
        return Response(server_metadata, media_type="application/json")

    async def live(request: Request) -> Response:
        return Response(status_code=200)

    async def ready(request: Request) -> Response:
        return Response(status_code=200 if state["ready"] and manager.accepting else 503)

    async def repository_index(request: Request) -> Response:
        body = await request.body()
        only_ready = False
        if body.strip():
            try:
                doc = json.loads(body)
                only_ready = bool(doc.get("ready", False)) if isinstance(doc, dict) else False
            except json.JSONDecodeError as exc:
                return _error(400, f"malformed request JSON: {exc}")
        rows = manager.index()
        if only_ready:
            rows = [r for r in rows if r.get("state") == "READY"]
        return _json(rows)

    async def repository_load(request: Request) -> Response:
        body = await request.body()
        if body.strip():
            try:
                doc = json.loads(body)
            except json.JSONDecodeError as exc:
                return _error(400, f"malformed request JSON: {exc}")
            params = doc.get("parameters", {}) if isinstance(doc, dict) else {}
            if isinstance(params, dict) and any(k == "config" or k.startswith("file:") for k in params):
                return _error(400, "load with a config or files in the request is not supported: edit the "
                                   "repository, then load")
        try:
            await asyncio.to_thread(manager.load, request.path_params["name"])
        except ServingError as exc:
            return _error(exc.status, str(exc))
        return _json({})

    async def repository_unload(request: Request) -> Response:
        try:
            await asyncio.to_thread(manager.unload, request.path_params["name"])
        except ServingError as exc:
            return _error(exc.status, str(exc))
        return _json({})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, f"{exc.detail}: {request.method} {request.url.path}")

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if load_on_startup:
            errors = await asyncio.to_thread(manager.load_all)  # each failure is logged with its reason
            if errors and exit_on_error:
                await asyncio.to_thread(manager.shutdown)
                raise RuntimeError(f"model(s) {sorted(errors)} failed to load")
            state["ready"] = True
        try:
            yield
        finally:
            # uvicorn has stopped taking connections and finished the open requests; what is still queued
            # (a request whose client went away) is run out before the workers stop
            await asyncio.to_thread(manager.shutdown)
            log.info("shut down: every accepted request finished")

    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    routes = [
        # infer first: the router tries routes in order, and it is the hot path
        Route(f"{model}/infer", infer, methods=["POST"]),
        Route(f"{versioned}/infer", infer, methods=["POST"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_meta, methods=["GET"]),
        Route("/v2/models/stats", statistics, methods=["GET"]),  # before {name}: "stats" is no model name here
        Route(f"{model}/stats", statistics, methods=["GET"]),
        Route(f"{versioned}/stats", statistics, methods=["GET"]),
        Route(model, model_metadata, methods=["GET"]),
        Route(versioned, model_metadata, methods=["GET"]),
        Route(f"{model}/ready", model_ready, methods=["GET"]),
        Route(f"{versioned}/ready", model_ready, methods=["GET"]),
        Route(f"{model}/config", model_config, methods=["GET"]),
        Route(f"{versioned}/config", model_config, methods=["GET"]),
        Route("/v2/repository/index", repository_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", repository_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", repository_unload, methods=["POST"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: internal_error})
