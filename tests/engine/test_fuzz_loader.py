"""Bounded fuzzing of the loader through the binding (see fuzz_driver.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loader_survives_fuzzing() -> None:
    seconds = os.environ.get("SLIMLAB_FUZZ_SECONDS", "10")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.engine.fuzz_driver", seconds],
        cwd=ROOT, capture_output=True, text=True, timeout=float(seconds) + 60,
    )
    output = proc.stdout + proc.stderr
    # A crash, a sanitizer report or an exception other than EngineError ends the
    # driver with a non-zero status (atheris also prints the crashing input).
    assert proc.returncode == 0, output[-4000:]
    assert "no crash" in output or "Done" in output, output[-2000:]


def test_structure_aware_fuzz_through_the_binding() -> None:
    seconds = os.environ.get("SLIMLAB_FUZZ_SECONDS", "10")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.engine.fuzz_driver", seconds, "--structured"],
        cwd=ROOT, capture_output=True, text=True, timeout=float(seconds) + 120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "no crash" in output, output[-2000:]
