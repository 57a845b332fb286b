"""Command line: ``python -m export.convert model.onnx -o model.slm [--report] ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from export.converter import WEIGHT_FORMATS, convert
from export.passes import DEFAULT_PIPELINE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m export.convert",
        description="Convert an ONNX model to the engine's model file (engine/FORMAT.md).",
    )
    p.add_argument("model", help="input ONNX model")
    p.add_argument("-o", "--output", required=True, help="engine model file to write (.slm)")
    p.add_argument("--report", action="store_true", help="print what each pass changed and op counts")
    p.add_argument("--weights", choices=WEIGHT_FORMATS, default="fp32", help="storage of float weights")
    p.add_argument("--no-optimize", action="store_true", help="write the graph without optimization passes")
    p.add_argument("--passes", help="comma-separated pass names replacing the default pipeline "
                   f"({','.join(DEFAULT_PIPELINE)})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    passes = [p.strip() for p in args.passes.split(",") if p.strip()] if args.passes else None
    try:
        report = convert(args.model, args.output, weights=args.weights, optimize=not args.no_optimize,
                         passes=passes)
    except (ValueError, RuntimeError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.format() if args.report else f"wrote {report.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
