"""Tables over many runs: ``python -m experiments.report <dir> [--out table.md]``.

Every directory under ``<dir>`` that holds a ``metrics.json`` becomes one row of the table of its kind,
recognised by its metrics (``experiments.reporting.kinds``): training runs (``experiments.train``, e.g.
each job of a sweep: model, params, MACs, peak activation memory, test top-1, train time), and
quantization, pruning and distillation runs (``experiments.compress``: their own figures plus the
settings from the run's ``config.yaml`` that tell a sweep's rows apart). Distillation adds a summary
over seeds. The training table is written as Markdown to ``--out`` (default ``<dir>/zoo_table.md``)
and as JSON with the raw numbers next to it (same name, ``.json``); every other table to
``<out stem>_<table>.md`` / ``.json`` beside it. The Markdown is also printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.io import atomic_write_json, atomic_write_text
from experiments.reporting import Row, RunTableError, Table, build_tables, collect_rows

DEFAULT_OUT = "zoo_table.md"
EXIT_BAD_INPUT = 2

__all__ = ["DEFAULT_OUT", "Row", "RunTableError", "collect_rows", "main", "table_path", "write_tables"]


def table_path(out: Path, table: Table) -> Path:
    return out if not table.name else out.with_name(f"{out.stem}_{table.name}{out.suffix or '.md'}")


def write_tables(tables: Sequence[Table], out: Path) -> list[Path]:
    """Write each table as Markdown and as JSON (same name, ``.json``); return the Markdown paths."""
    written = []
    for table in tables:
        md_path = table_path(out, table)
        atomic_write_text(md_path, table.markdown)
        atomic_write_json(md_path.with_suffix(".json"), table.records)
        written.append(md_path)
    return written


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
    tables = build_tables(rows)
    paths = write_tables(tables, args.out or args.dir / DEFAULT_OUT)
    for table in tables:
        # a lone table prints as before; several need their titles to be told apart
        if len(tables) > 1:
            print(f"\n## {table.title}\n")
        print(table.markdown, end="")
    print(f"\n{len(rows)} runs -> " + ", ".join(f"{p}, {p.with_suffix('.json')}" for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
