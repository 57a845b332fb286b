"""Model life cycle while serving (reload a new version, unload, load), graceful shutdown, the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tomllib
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from serving.models import ModelManager, Unavailable
from serving.protocol import InferRequest
from tests.serving.conftest import Gate, infer_input, quick, write_model
from tests.serving.models import Dense

ROOT = Path(__file__).resolve().parents[2]
X1 = np.ones((1, 4), np.float32)


class Load:
    """Background clients that keep inferring (unversioned) and record every outcome."""

    def __init__(self, hostport: str, workers: int = 2) -> None:
        self.stop = threading.Event()
        self.versions: list[tuple[float, str]] = []  # (time sent, version that answered)
        self.errors: list[str] = []
        self.count = threading.Semaphore(0)
        self._threads = [threading.Thread(target=self._run, args=(hostport,)) for _ in range(workers)]

    def _run(self, hostport: str) -> None:
        c = triton.InferenceServerClient(hostport, network_timeout=30)
        while not self.stop.is_set():
            try:
                sent = time.monotonic()
                r = c.infer("dense", [infer_input(X1)])
                self.versions.append((sent, r.get_response()["model_version"]))
            except Exception as exc:
                self.errors.append(str(exc))
            self.count.release()

    def wait_for(self, n: int) -> None:
        for _ in range(n):
            assert self.count.acquire(timeout=30), "the load stalled"

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30)


def test_reloading_a_new_version_under_load_fails_no_request(serve, tmp_path: Path):
    write_model(tmp_path, "dense", 1, seed=0)
    s = serve(ModelManager.from_repository(tmp_path))
    c = s.client()
    with Load(s.hostport) as load:
        load.wait_for(20)
        write_model(tmp_path, "dense", 2, seed=1)
        c.load_model("dense")  # returns once v2 serves and v1 finished its requests
        loaded = time.monotonic()
        load.wait_for(20)
    assert not load.errors, load.errors[:3]
    assert load.versions[0][1] == "1" and load.versions[-1][1] == "2"
    late = {v for sent, v in load.versions if sent > loaded}
    assert late == {"2"}, "a request sent after the reload returned went to v1"
    r = c.infer("dense", [infer_input(X1)])
    np.testing.assert_allclose(r.as_numpy("y"), Dense(seed=1).reference(X1)[0], rtol=1e-6)
    assert c.get_model_repository_index() == [{"name": "dense", "version": "2", "state": "READY"}]
    assert c.get_model_metadata("dense")["versions"] == ["2"]
    with pytest.raises(InferenceServerException, match="unknown version '1'"):
        c.infer("dense", [infer_input(X1)], model_version="1")


def test_requests_queued_on_the_old_version_finish_after_the_swap(serve, tmp_path: Path):
    write_model(tmp_path, "dense", 1, seed=0, config={"instance_group": [{"count": 1}]})
    s = serve(ModelManager.from_repository(tmp_path))
    gate = Gate(s.version("dense"))
    c = s.client(concurrency=3)
    handles = [c.async_infer("dense", [infer_input(X1)]) for _ in range(3)]
    gate.wait_submitted(3)
    write_model(tmp_path, "dense", 2, seed=1)
    published = threading.Event()
    retire = s.manager._retire

    def retire_after_publish(versions):
        published.set()  # the manager retires the old versions only after publishing the new table
        retire(versions)

    s.manager._retire = retire_after_publish
    loading = threading.Thread(target=lambda: s.client().load_model("dense"))
    loading.start()
    assert published.wait(30)
    # v2 serves while v1 still holds the three requests; v1 drains once its worker may run
    r = s.client().infer("dense", [infer_input(X1)])
    assert r.get_response()["model_version"] == "2"
    gate.open.set()
    assert [h.get_result(timeout=30).get_response()["model_version"] for h in handles] == ["1", "1", "1"]
    loading.join(30)
    assert not loading.is_alive()


def test_a_failed_reload_keeps_the_old_version_serving(serve, tmp_path: Path):
    write_model(tmp_path, "dense", 1)
    s = serve(ModelManager.from_repository(tmp_path))
    c = s.client()
    bad = tmp_path / "dense/2/model.slm"
    bad.parent.mkdir()
    bad.write_bytes(b"SLIMLAB\0 not really")
    with pytest.raises(InferenceServerException, match=str(bad)):
        c.load_model("dense")
    assert c.infer("dense", [infer_input(X1)]).get_response()["model_version"] == "1"


def test_unload_then_load(serve, tmp_path: Path):
    write_model(tmp_path, "dense", 1)
    write_model(tmp_path, "other", 1)
    s = serve(ModelManager.from_repository(tmp_path))
    c = s.client()
    c.unload_model("dense")
    assert not c.is_model_ready("dense") and c.is_model_ready("other")
    with pytest.raises(InferenceServerException, match="unknown model 'dense'") as info:
        c.infer("dense", [infer_input(X1)])
    assert info.value.status() == "404"
    index = {row["name"]: row for row in c.get_model_repository_index()}
    assert index["dense"]["state"] == "UNAVAILABLE" and index["other"]["state"] == "READY"
    c.load_model("dense")
    assert c.is_model_ready("dense")
    assert c.infer("dense", [infer_input(X1)]).as_numpy("y").shape == (1, 3)
    with pytest.raises(InferenceServerException, match="no model folder 'ghost'"):
        c.load_model("ghost")


def test_shutdown_finishes_the_accepted_requests(serve, dense_file: Path):
    s = serve(quick(dense_file, max_batch_size=1, instance_count=1))
    gate = Gate(s.version("dense"))
    c = s.client(concurrency=4)
    handles = [c.async_infer("dense", [infer_input(X1)]) for _ in range(4)]
    gate.wait_submitted(4)
    stopper = threading.Thread(target=s.srv.stop)
    stopper.start()  # graceful: as on SIGTERM
    gate.open.set()
    results = [h.get_result(timeout=30) for h in handles]
    stopper.join(30)
    assert not stopper.is_alive()
    assert all(r.as_numpy("y").shape == (1, 3) for r in results)
    with pytest.raises(Exception):  # noqa: B017 - connection refused, whatever the client calls it
        triton.InferenceServerClient(s.hostport, connection_timeout=2).is_server_live()


def test_cli_quick_path_serves_a_file_and_stops_on_sigterm(tmp_path: Path):
    path = Dense().write(tmp_path / "m.slm")
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "--model", str(path), "--name", "quick",
                             "--http-port", "0", "--max-batch-size", "4", "--max-queue-delay-us", "100",
                             "--instances", "1", "--threads", "1"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # blocks until the server says where it listens
            lines.append(line)
            if "serving on http://" in line:
                break
        else:
            pytest.fail("".join(lines))
        assert any("instance plan 1 x 1" in line for line in lines)
        hostport = line.strip().rsplit("http://", 1)[1]
        c = triton.InferenceServerClient(hostport)
        assert c.get_model_config("quick")["max_batch_size"] == 4
        r = c.infer("quick", [infer_input(np.ones((4, 4), np.float32))])
        np.testing.assert_allclose(r.as_numpy("z"), Dense().reference(np.ones((4, 4), np.float32))[1], rtol=1e-6)
        os.kill(proc.pid, signal.SIGTERM)
        rest = proc.stderr.read()  # to EOF: the process has ended
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status is SIGTERM's
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "shut down: every accepted request finished" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


def test_the_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["slimlab-serve"] == "serving.cli:main"
    proc = subprocess.run([sys.executable, "-m", "serving.cli", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "--model-repository" in proc.stdout


def test_the_server_starts_with_a_broken_model_beside_good_ones(serve, tmp_path: Path):
    write_model(tmp_path, "dense", 1)
    write_model(tmp_path, "broken", 1, config={"max_batch_size": 4, "dynamic_batching": {"delay": 1}})
    s = serve(ModelManager.from_repository(tmp_path))
    c = s.client()
    assert c.is_server_ready() and c.is_model_ready("dense") and not c.is_model_ready("broken")
    index = {row["name"]: row for row in c.get_model_repository_index()}
    assert index["broken"]["state"] == "UNAVAILABLE"
    assert str(tmp_path / "broken/config.json") in index["broken"]["reason"]
    assert "unknown keys ['delay']" in index["broken"]["reason"]
    with pytest.raises(InferenceServerException, match="unknown model 'broken'.*config.json"):
        c.infer("broken", [infer_input(X1)])


def test_a_request_to_a_closing_version_with_no_replacement_is_refused_not_spun(dense_file: Path):
    manager = quick(dense_file)
    assert manager.load_all() == {}
    manager.resolve("dense", None).batcher.close()  # as during shutdown, before any table swap
    req = InferRequest(None, {"x": X1}, None, True, None, {})
    with pytest.raises(Unavailable, match="being unloaded"):
        asyncio.run(asyncio.wait_for(manager.infer("dense", None, req), 10))
    manager.shutdown()


def test_cli_quick_path_with_a_corrupt_file_exits_with_an_error_naming_it(tmp_path: Path):
    path = tmp_path / "bad.slm"
    path.write_bytes(Dense().data[:200])
    proc = subprocess.run([sys.executable, "-m", "serving.cli", "--model", str(path), "--http-port", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"{path}: model file" in proc.stderr and "serving on" not in proc.stderr
