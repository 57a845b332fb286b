"""Progress bars that stay quiet when nobody is watching (not a terminal, or CI)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_enabled(mode: str = "auto") -> bool:
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"train.progress must be auto, on or off, got {mode!r}")
    if mode != "auto":
        return mode == "on"
    return sys.stderr.isatty() and not os.environ.get("CI")


def bar(iterable: Iterable, enabled: bool, **kwargs: Any) -> Any:
    return tqdm(iterable, disable=not enabled, dynamic_ncols=True, leave=False, **kwargs)
