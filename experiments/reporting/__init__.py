"""Tables over run directories: which kind of run each is, the row of one run, one table per kind."""

from experiments.reporting.errors import RunTableError
from experiments.reporting.kinds import ROW_KINDS, RowKind, kind_of
from experiments.reporting.rows import Row, collect_rows, read_row
from experiments.reporting.table_format import Column
from experiments.reporting.tables import Table, build_tables

__all__ = [
    "ROW_KINDS",
    "Column",
    "Row",
    "RowKind",
    "RunTableError",
    "Table",
    "build_tables",
    "collect_rows",
    "kind_of",
    "read_row",
]
