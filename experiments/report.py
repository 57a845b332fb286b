"""One table over many runs: ``python -m experiments.report <dir> [--out table.md]``.

Every directory under ``<dir>`` that holds a ``metrics.json`` (what
``experiments.train`` writes, e.g. each job of a sweep) becomes one row: model,
params, MACs, peak activation memory, test top-1 and train time, sorted by
model. The table is written as Markdown (``--out``, default
``<dir>/zoo_table.md``) and as JSON with the raw numbers next to it (same name,
``.json``); the Markdown is also printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from experiments.io import atomic_write_json, atomic_write_text

METRICS_FILE = "metrics.json"
DEFAULT_OUT = "zoo_table.md"
EXIT_BAD_INPUT = 2
REQUIRED_KEYS = ("model", "params", "macs", "peak_activation_bytes", "test_top1", "train_time_s")


class RunTableError(ValueError):
    """A run directory that cannot be turned into a row (or no run directory at all)."""


@dataclass
class RunRow:
    model: str
    data: str | None
    params: int
    macs: int
    peak_activation_bytes: int
    test_top1: float
    train_time_s: float
    run: str  # the run directory, relative to the scanned directory


def read_row(metrics_path: Path, root: Path) -> RunRow:
    """The row of one run; malformed or incomplete metrics name the file and what is wrong."""
    try:
        metrics = json.loads(metrics_path.read_text())
    except json.JSONDecodeError as exc:
        raise RunTableError(f"{metrics_path} is not valid JSON: {exc}") from exc
    if not isinstance(metrics, dict):
        raise RunTableError(f"{metrics_path} must hold a JSON object, got {type(metrics).__name__}")
    missing = [k for k in REQUIRED_KEYS if metrics.get(k) is None]
    if missing:
        raise RunTableError(f"{metrics_path} lacks {', '.join(missing)}")
    return RunRow(
        model=str(metrics["model"]),
        data=metrics.get("data"),
        params=int(metrics["params"]),
        macs=int(metrics["macs"]),
        peak_activation_bytes=int(metrics["peak_activation_bytes"]),
        test_top1=float(metrics["test_top1"]),
        train_time_s=float(metrics["train_time_s"]),
        run=str(metrics_path.parent.relative_to(root)),
    )


def collect_rows(root: Path) -> list[RunRow]:
    """Rows of every run under ``root``, sorted by model (then run directory)."""
    if not root.is_dir():
        raise RunTableError(f"{root} is not a directory")
    rows = [read_row(p, root) for p in root.rglob(METRICS_FILE)]
    if not rows:
        raise RunTableError(f"no run directory (one holding {METRICS_FILE}) under {root}")
    return sorted(rows, key=lambda r: (r.model, r.run))


_COLUMNS = (
    ("model", lambda r: r.model),
    ("data", lambda r: r.data or "-"),
    ("params (M)", lambda r: f"{r.params / 1e6:.3f}"),
    ("MACs (M)", lambda r: f"{r.macs / 1e6:.2f}"),
    ("peak act. (KiB)", lambda r: f"{r.peak_activation_bytes / 1024:.1f}"),
    ("test top-1 (%)", lambda r: f"{r.test_top1:.2f}"),
    ("train time (s)", lambda r: f"{r.train_time_s:.1f}"),
    ("run", lambda r: f"`{r.run}`"),
)


def markdown_table(rows: Sequence[RunRow]) -> str:
    header = "| " + " | ".join(name for name, _ in _COLUMNS) + " |"
    rule = "|" + "|".join("---" if i < 2 or i == len(_COLUMNS) - 1 else "---:" for i in range(len(_COLUMNS))) + "|"
    body = ["| " + " | ".join(cell(r) for _, cell in _COLUMNS) + " |" for r in rows]
    return "\n".join([header, rule, *body]) + "\n"


def write_tables(rows: Sequence[RunRow], out: Path) -> tuple[Path, Path]:
    """Write ``out`` (Markdown) and ``out`` with suffix ``.json``; return both paths."""
    json_path = out.with_suffix(".json")
    atomic_write_text(out, markdown_table(rows))
    atomic_write_json(json_path, [asdict(r) for r in rows])
    return out, json_path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.report", description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path, help="directory holding run directories (e.g. a sweep's directory)")
    p.add_argument("--out", type=Path, default=None, help=f"Markdown file; default <dir>/{DEFAULT_OUT}")
    args = p.parse_args(argv)
    try:
        rows = collect_rows(args.dir)
    except RunTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    md_path, json_path = write_tables(rows, args.out or args.dir / DEFAULT_OUT)
    print(markdown_table(rows), end="")
    print(f"\n{len(rows)} runs -> {md_path}, {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
