"""The machine a latency was measured on: recorded with every figure and part of the cache key."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@functools.lru_cache(maxsize=1)
def machine_fingerprint() -> dict[str, Any]:
    """CPU model, architecture, cores this process may use, OS: what makes two figures comparable."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "system": platform.system(),
        "release": platform.release(),
    }
