"""Atomic file writes: a crash mid-write never leaves a truncated model where a valid one is expected."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` to a temp file in the target folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # same folder, so the rename is atomic
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
