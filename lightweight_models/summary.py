"""Print a model's complexity: ``python -m lightweight_models.summary <name> [options]``.

Totals, the per-block table and the per-layer table of ``complexity.profile``;
``--json`` also writes the full report. Unknown names and invalid model
arguments print the reason and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from configs.registry import UnknownNameError
from lightweight_models.complexity import ComplexityReport, profile
from lightweight_models.registry import create_model, model_info

EXIT_BAD_INPUT = 2
PLAIN_WIDTH = 200


def parse_input(text: str) -> tuple[int, int, int]:
    """``CxHxW`` (e.g. ``3x224x224``) -> (C, H, W)."""
    parts = text.lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) <= 0:
        raise argparse.ArgumentTypeError(f"--input must be CxHxW with positive integers, got '{text}'")
    return dims  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lightweight_models.summary", description=__doc__.split("\n")[0])
    p.add_argument("name", help="a registered model name (see lightweight_models.list_models())")
    p.add_argument("--input", type=parse_input, default=None, help="CxHxW; default: 3 x the model's default_input")
    p.add_argument("--num-classes", type=int, default=None, help="default: the model's own default")
    p.add_argument("--small-input", action="store_true", help="build the reduced-stride variant for 28-32 px")
    p.add_argument("--depth", type=int, default=None, help="aggregation depth of the block table")
    p.add_argument("--batch", type=int, default=1, help="batch size of the profiled input")
    p.add_argument("--json", type=Path, default=None, help="also write the full report to this file")
    return p


def model_kwargs(args: argparse.Namespace, chw: tuple[int, int, int]) -> dict[str, Any]:
    # small_input always explicit: the summary describes the configuration the flags name
    kwargs: dict[str, Any] = {"in_chans": chw[0], "small_input": args.small_input}
    if chw[1] == chw[2]:
        # lets the model reject an input smaller than its total stride with a clear message
        kwargs["input_size"] = chw[1]
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    return kwargs


def _fmt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _shape(shape: Sequence[int] | None) -> str:
    return "-" if shape is None else "x".join(str(d) for d in shape)


def totals_table(name: str, report: ComplexityReport) -> Table:
    t = Table(title=f"{name} @ {_shape(report.input_shape)}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("params", f"{report.params:,} ({report.params / 1e6:.3f} M)")
    t.add_row("MACs", f"{report.macs:,} ({report.macs / 1e6:.2f} M)")
    t.add_row(
        "peak activation memory",
        f"{report.peak_activation_bytes:,} B ({report.peak_activation_bytes / 2**20:.2f} MiB)",
    )
    t.add_row("memory access cost (values)", f"{report.memory_access_cost:,}")
    return t


def rows_table(title: str, rows: Sequence[Any], extra: Sequence[str] = ()) -> Table:
    t = Table(title=title)
    for col in ("name", "type", "output", *extra, "params", "MACs", "mem. access cost"):
        t.add_column(col, justify="left" if col in ("name", "type", "output") else "right")
    for r in rows:
        t.add_row(
            r.name,
            r.type,
            _shape(r.output_shape),
            *(str(getattr(r, c)) for c in extra),
            _fmt(r.params),
            _fmt(r.macs),
            _fmt(r.memory_access_cost),
        )
    return t


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        info = model_info(args.name)
        chw = args.input or (3, info["default_input"], info["default_input"])
        model = create_model(args.name, **model_kwargs(args, chw))
        report = profile(model, (args.batch, *chw), block_depth=args.depth)
    except (UnknownNameError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # rich would squeeze the tables into 80 columns when writing to a file or a pipe
    out = Console() if sys.stdout.isatty() else Console(width=PLAIN_WIDTH, no_color=True)
    out.print(totals_table(args.name, report))
    out.print(rows_table("blocks", report.blocks, extra=("layers",)))
    out.print(rows_table("layers", report.layers))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"name": args.name, **report.to_dict()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
