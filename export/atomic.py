"""Atomic file writes: a crash mid-write never leaves a truncated model, result or checkpoint where a valid
one is expected.

The one primitive of the workbench: ``export`` is the lowest layer that writes files, so the layers above
(``measure``, ``experiments``) build their json/text/checkpoint writers on it instead of keeping their own.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
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
