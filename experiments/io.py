"""Atomic json, text and checkpoint writes of run directories, all through ``export.atomic.write_atomically``
(the single atomic-write primitive), so a crash mid-write never leaves a half-written result or checkpoint."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import torch

from export.atomic import write_atomically

PathLike = str | os.PathLike[str]


def atomic_write_text(path: PathLike, text: str) -> Path:
    return write_atomically(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: PathLike) -> Path:
    """``torch.save(obj, path)``, atomically (``torch.save``'s argument order)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_atomically(path, buffer.getvalue())
