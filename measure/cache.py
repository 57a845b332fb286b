"""A latency cache keyed by what determines a latency, so that measuring the same model again is free.

The key is the sha256 of the model file's content with the runner, its version (for the
engine: the hash of the built binary, which changes when the C++ is rebuilt), the thread
count, the input shape, the timing protocol and the machine fingerprint. NAS asks for the
latency of thousands of candidates, many of them the same network; each distinct one is
measured once per machine.

One JSON file per key, written atomically: concurrent searches on one machine never see a
half-written entry and never need a lock. A file that cannot be read is ignored (with a
warning) and replaced by a new measurement, since the cache only ever saves time.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from export.atomic import write_atomically
from measure.machine import machine_fingerprint
from measure.timing import Measurement, TimingProtocol

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    env = os.environ.get("SLIMLAB_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "slimlab" / "latency"


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CacheCorruptWarning(UserWarning):
    """A cache entry could not be read; it is measured again and overwritten."""


class LatencyCache:
    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def key_fields(self, model_path: str | os.PathLike[str], runner: str, runner_version: str, threads: int,
                   input_shape: Sequence[int] | None, protocol: TimingProtocol) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "model_sha256": file_sha256(model_path),
            "runner": runner,
            "runner_version": runner_version,
            "threads": threads,
            "input_shape": None if input_shape is None else [int(d) for d in input_shape],
            "protocol": protocol.as_dict(),
            "machine": machine_fingerprint(),
        }

    @staticmethod
    def key(fields: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> Measurement | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
            return Measurement.from_dict(entry["measurement"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"latency cache entry {path} is unreadable ({exc!r}); measuring again",
                          CacheCorruptWarning, stacklevel=2)
            return None

    def put(self, key: str, fields: dict[str, Any], measurement: Measurement) -> Path:
        entry = {"key": fields, "measurement": measurement.as_dict()}
        path = self.path(key)
        write_atomically(path, (json.dumps(entry, indent=1, sort_keys=True) + "\n").encode())
        return path

    def get_or_measure(self, fields: dict[str, Any], measure: Callable[[], Measurement]) -> Measurement:
        key = self.key(fields)
        hit = self.get(key)
        if hit is not None:
            return hit
        result = measure()
        self.put(key, fields, result)
        return result
