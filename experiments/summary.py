"""The one summary writer of every run kind: summary.md and the table printed at the end of a run.

It renders whatever metrics.json holds, in sections (what was run, training, compression, export, latency), so a
training run, a compress run and a run with export and measure steps all get their summary from the same rows;
a step adds figures to metrics.json and the rows that show them live here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from experiments.runs import RunDir


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    format: Callable[[Any, Mapping[str, Any]], str]


def _fmt(spec: str) -> Callable[[Any, Mapping[str, Any]], str]:
    return lambda value, _metrics: format(value, spec)


def _bytes_vs(reference: str) -> Callable[[Any, Mapping[str, Any]], str]:
    def cell(value: Any, metrics: Mapping[str, Any]) -> str:
        ref = metrics.get(reference)
        return f"{value:,.0f}" + (f" ({100 * value / ref:.1f}% of fp32)" if ref else "")

    return cell


SECTIONS: dict[str, tuple[Row, ...]] = {
    "run": (
        Row("model", "model", _fmt("")),
        Row("data", "data", _fmt("")),
        Row("compress method", "method", _fmt("")),
    ),
    "training": (
        Row("test top-1 (%)", "test_top1", _fmt(".2f")),
        Row("test top-5 (%)", "test_top5", _fmt(".2f")),
        Row("test loss", "test_loss", _fmt(".4f")),
        Row("best val top-1 (%)", "best_val_top1", _fmt(".2f")),
        Row("params", "params", _fmt(",")),
        Row("MACs", "macs", _fmt(",")),
        Row("peak activation memory (bytes)", "peak_activation_bytes", _fmt(",")),
        Row("epochs", "epochs", _fmt("")),
        Row("train time (s)", "train_time_s", _fmt(".1f")),
        Row("eval throughput (img/s)", "test_throughput", _fmt(".0f")),
    ),
    "compression": (
        Row("fp32 top-1 (%)", "fp32_top1", _fmt(".2f")),
        Row("compressed top-1 (%)", "top1", _fmt(".2f")),
        Row("weight bytes", "weight_bytes", _bytes_vs("fp32_weight_bytes")),
        Row("ONNX Runtime top-1 of the QDQ file (%)", "onnx_top1", _fmt(".2f")),
        Row("engine top-1 of its int8 conversion (%)", "engine_top1", _fmt(".2f")),
        Row("engine and ONNX Runtime: same prediction", "engine_onnx_same_top1", _fmt(".4f")),
        Row("QDQ file bytes", "onnx_qdq_bytes", _bytes_vs("onnx_fp32_bytes")),
    ),
    "export": (
        Row("model.onnx bytes", "onnx_bytes", _fmt(",")),
        Row("model.slm bytes", "slm_bytes", _fmt(",")),
    ),
}


def _latency_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The measure step's headline latencies: ``latency_ms`` maps runner -> threads -> median ms."""
    rows = []
    for runner, by_threads in sorted((metrics.get("latency_ms") or {}).items()):
        for threads, ms in sorted(by_threads.items(), key=lambda kv: int(kv[0])):
            rows.append((f"{runner} latency, {threads} thread(s) (ms)", f"{ms:.3f}"))
    return rows


def summary_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(section, label, value) for every row whose metric the run has."""
    rows = [(section, row.label, row.format(metrics[row.key], metrics))
            for section, section_rows in SECTIONS.items() for row in section_rows if metrics.get(row.key) is not None]
    return rows + [("latency", label, value) for label, value in _latency_rows(metrics)]


def summary_markdown(metrics: Mapping[str, Any], run_dir: Path) -> str:
    title = f"# {metrics.get('name', 'run')}: summary"
    lines = [title, "", "| section | metric | value |", "|---|---|---|"]
    lines += [f"| {section} | {label} | {value} |" for section, label, value in summary_rows(metrics)]
    lines += ["", f"Run directory: `{run_dir}`", ""]
    return "\n".join(lines)


def write_summary(run: RunDir) -> str:
    """Write summary.md from the run's metrics.json (nothing when no step wrote metrics) and return it."""
    if not run.metrics_path.is_file():
        return ""
    text = summary_markdown(run.read_metrics(), run.path)
    run.write_summary(text)
    return text


def print_summary(metrics: Mapping[str, Any], run_dir: Path) -> None:
    table = Table(title="slimlab run summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for _section, label, value in summary_rows(metrics):
        table.add_row(label, value)
    console = Console()
    console.print(table)
    console.print(f"run directory: {run_dir}")
