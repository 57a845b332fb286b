"""The short human summary of a run: printed at the end and saved as summary.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

_ROWS = [
    ("model", "model", "{}"),
    ("data", "data", "{}"),
    ("test top-1 (%)", "test_top1", "{:.2f}"),
    ("test top-5 (%)", "test_top5", "{:.2f}"),
    ("test loss", "test_loss", "{:.4f}"),
    ("best val top-1 (%)", "best_val_top1", "{:.2f}"),
    ("params", "params", "{:,}"),
    ("MACs", "macs", "{:,}"),
    ("peak activation memory (bytes)", "peak_activation_bytes", "{:,}"),
    ("epochs", "epochs", "{}"),
    ("train time (s)", "train_time_s", "{:.1f}"),
    ("eval throughput (img/s)", "test_throughput", "{:.0f}"),
]


def _rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    return [(label, fmt.format(metrics[key])) for label, key, fmt in _ROWS if metrics.get(key) is not None]


def summary_markdown(metrics: dict[str, Any], run_dir: Path) -> str:
    lines = ["# Run summary", "", "| metric | value |", "|---|---|"]
    lines += [f"| {label} | {value} |" for label, value in _rows(metrics)]
    lines += ["", f"Run directory: `{run_dir}`", ""]
    return "\n".join(lines)


def print_summary(metrics: dict[str, Any], run_dir: Path) -> None:
    table = Table(title="slimlab run summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in _rows(metrics):
        table.add_row(label, value)
    console = Console()
    console.print(table)
    console.print(f"run directory: {run_dir}")
