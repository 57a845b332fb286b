"""A table as columns of cell functions, rendered as Markdown (the JSON keeps the raw values)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MISSING = "-"


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Any], str]
    numeric: bool = True  # right-aligned


def fmt(key: str, spec: str, scale: float = 1.0) -> Callable[[Any], str]:
    """A cell showing ``row.get(key) * scale`` with a format spec, or ``-`` when the run lacks the value."""

    def cell(row: Any) -> str:
        value = row.get(key)
        if value is None:
            return MISSING
        # scaling only when asked keeps integers integers (format code "d")
        return format(value * scale if scale != 1.0 else value, spec)

    return cell


def markdown(columns: Sequence[Column], rows: Sequence[Any]) -> str:
    header = "| " + " | ".join(c.header for c in columns) + " |"
    rule = "|" + "|".join("---:" if c.numeric else "---" for c in columns) + "|"
    body = ["| " + " | ".join(c.cell(r) for c in columns) + " |" for r in rows]
    return "\n".join([header, rule, *body]) + "\n"
