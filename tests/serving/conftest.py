"""Fixtures: engine files, repositories and a real server on 127.0.0.1 (an in-process uvicorn thread)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from serving.app import build_app
from serving.instances import InstancePool
from serving.models import ModelManager, ModelVersion
from serving.repository import ModelConfig
from serving.server import ServerThread
from tests.serving.models import Dense


def write_model(root: Path, name: str, version: int = 1, seed: int = 0, config: dict[str, Any] | None = None,
                batch: int | str = "batch") -> Dense:
    model = Dense(seed, batch)
    model.write(root / name / str(version) / "model.slm")
    if config is not None:
        (root / name / "config.json").write_text(json.dumps(config))
    return model


class Running:
    """A started server: its URL, its manager, and clients for it."""

    def __init__(self, srv: ServerThread, manager: ModelManager) -> None:
        self.srv = srv
        self.manager = manager
        self.url = srv.url
        self.hostport = srv.url.removeprefix("http://")

    def client(self, concurrency: int = 1) -> triton.InferenceServerClient:
        return triton.InferenceServerClient(self.hostport, concurrency=concurrency, network_timeout=30)

    def version(self, name: str, version: str | None = None) -> ModelVersion:
        return self.manager.resolve(name, version)

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics as the manager's registry renders it (0 when absent)."""
        text = self.manager.metrics.exposition().decode()
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            m = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
            if m and all(part in m[1].split(",") for part in want.split(",") if part):
                return float(m[2])
        return 0.0


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """serve(manager) starts a server over it; every server started is stopped after the test."""
    started: list[ServerThread] = []

    def start(manager: ModelManager, **app_kwargs: Any) -> Running:
        srv = ServerThread(build_app(manager, **app_kwargs), log_level="warning").start()
        started.append(srv)
        return Running(srv, manager)

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def dense_file(tmp_path: Path) -> Path:
    return Dense().write(tmp_path / "dense.slm")


def quick(path: Path, **config: Any) -> ModelManager:
    return ModelManager.from_file(path, ModelConfig(name=config.pop("name", "dense"), **config))


def infer_input(x: np.ndarray, binary: bool = True, name: str = "x") -> triton.InferInput:
    i = triton.InferInput(name, list(x.shape), "FP32")
    i.set_data_from_numpy(x, binary_data=binary)
    return i


class Gate:
    """Holds a version's workers at the start of each batch until opened, so a test controls when compute
    happens (queue full, timeouts, shutdown) without sleeping; also reports queued requests as they arrive."""

    def __init__(self, mv: ModelVersion) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        self._queued = threading.Condition()
        self.submitted = 0
        pool: InstancePool = mv.pool
        run = pool._execute
        submit = mv.batcher.submit

        def gated(sess: Any, batch: list[Any]) -> None:
            self.entered.set()
            assert self.open.wait(30), "gate never opened"
            run(sess, batch)

        def counted(p: Any) -> None:
            submit(p)
            with self._queued:
                self.submitted += 1
                self._queued.notify_all()

        pool._execute = gated  # type: ignore[method-assign]
        mv.batcher.submit = counted  # type: ignore[method-assign]

    def wait_submitted(self, n: int, timeout: float = 30) -> None:
        with self._queued:
            assert self._queued.wait_for(lambda: self.submitted >= n, timeout), f"{self.submitted} of {n} queued"
