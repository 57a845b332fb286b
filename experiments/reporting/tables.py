"""Rows -> the report's tables: one per kind of run present, plus the distillation summary over seeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from experiments.reporting import distill_summary
from experiments.reporting.kinds import kinds_in_order
from experiments.reporting.rows import Row
from experiments.reporting.table_format import markdown


@dataclass(frozen=True)
class Table:
    name: str  # "" for the training table (the report's main file), else the suffix of its own files
    title: str
    markdown: str
    records: list[dict[str, Any]]


def _distillation_summary(rows: Sequence[Row]) -> Table:
    records = distill_summary.summarize(rows)
    md = markdown(distill_summary.COLUMNS, distill_summary.records_for_table(records))
    return Table("distillation_summary", "distillation over seeds (mean, sample std)", md, records)


# kind -> tables derived from its rows, written after the kind's own table
SUMMARIES: dict[str, Callable[[Sequence[Row]], Table]] = {"distillation": _distillation_summary}


def build_tables(rows: Sequence[Row]) -> list[Table]:
    tables = []
    for kind in kinds_in_order():
        of_kind = [r for r in rows if r.kind == kind.name]
        if not of_kind:
            continue
        # the training table keeps the file names it had before compress runs were reported
        name = "" if kind.name == "train" else kind.name
        tables.append(Table(name, kind.title, markdown(kind.columns, of_kind), [r.as_json() for r in of_kind]))
        if kind.name in SUMMARIES:
            tables.append(SUMMARIES[kind.name](of_kind))
    return tables
