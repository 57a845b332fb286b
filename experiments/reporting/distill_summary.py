"""Distillation over seeds: mean and spread of top-1 with and without KD for each setting.

A KD gain of a few tenths of a point is within seed noise on small data sets; the spread over seeds
says whether a setting's gain is real.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from typing import Any

from experiments.reporting.rows import Row
from experiments.reporting.table_format import MISSING, Column, fmt


def _spread(values: Sequence[float]) -> float | None:
    # the sample standard deviation; one seed has no spread to report
    return statistics.stdev(values) if len(values) > 1 else None


def _but_seed(row: Row) -> dict[str, Any]:
    return {k: v for k, v in row.settings.items() if k != "seed"}


def summarize(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """One record per (model, method, settings but seed), in the rows' order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        # JSON text as the key: settings may hold lists (feature pairs), which do not hash
        key = json.dumps([row.get("model"), row.get("method"), list(_but_seed(row).items())], default=str)
        groups.setdefault(key, []).append(row)
    out = []
    for members in groups.values():
        first = members[0]
        model, method, settings = first.get("model"), first.get("method"), _but_seed(first)
        kd = [float(r.get("top1")) for r in members]
        plain = [float(r.get("fp32_top1")) for r in members]
        out.append({
            "model": model,
            "method": method,
            "settings": settings,
            "seeds": sorted({r.settings.get("seed") for r in members}, key=str),
            "runs": len(members),
            "top1_mean": statistics.fmean(kd),
            "top1_std": _spread(kd),
            "fp32_top1_mean": statistics.fmean(plain),
            "fp32_top1_std": _spread(plain),
            "gain_mean": statistics.fmean(kd) - statistics.fmean(plain),
        })
    return out


class _Record(dict):
    """A summary record that table columns read like a row."""

    def settings_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self["settings"].items()) or MISSING


def records_for_table(records: Sequence[dict[str, Any]]) -> list[_Record]:
    return [_Record(r) for r in records]


COLUMNS = (
    Column("model", lambda r: str(r["model"]), numeric=False),
    Column("method", lambda r: str(r["method"]), numeric=False),
    Column("settings (all but seed)", lambda r: r.settings_text(), numeric=False),
    Column("runs", lambda r: str(r["runs"])),
    Column("top-1 with KD (%)", fmt("top1_mean", ".2f")),
    Column("std (KD)", fmt("top1_std", ".2f")),
    Column("top-1 without KD (%)", fmt("fp32_top1_mean", ".2f")),
    Column("std (no KD)", fmt("fp32_top1_std", ".2f")),
    Column("gain (pp)", fmt("gain_mean", "+.2f")),
)
