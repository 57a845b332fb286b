"""Command line: ``python -m export.convert model.onnx -o model.slm [--report] ...``.

Exit status: 0 converted; 2 the model (or a usage error) is at fault, with one ``error:`` line naming the
file and the problem; 1 the environment is (engine module not built, output not writable). Anything else
is a bug of the converter and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from export.converter import WEIGHT_FORMATS, convert
from export.errors import ModelFormatError
from export.passes import DEFAULT_PIPELINE, PASSES
from export.support import EngineUnavailableError
from export.validate import Limits

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 1


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
    p.add_argument("--max-tensor-mb", type=float, default=Limits.max_tensor_bytes / 2**20,
                   help="refuse any tensor larger than this, declared or folded (default %(default)g MiB)")
    return p


def one_line(message: str) -> str:
    """A multi-line message (the list of unsupported ops) as one line."""
    first, *rest = [ln.strip() for ln in message.splitlines() if ln.strip()] or [""]
    return f"{first} {'; '.join(rest)}" if rest else first


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    passes = [p.strip() for p in args.passes.split(",") if p.strip()] if args.passes else None
    unknown = [p for p in passes or () if p not in PASSES]
    if unknown:
        parser.error(f"unknown pass {', '.join(unknown)} (valid: {', '.join(PASSES.names())})")
    if not args.max_tensor_mb > 0:
        parser.error(f"--max-tensor-mb must be positive, got {args.max_tensor_mb}")
    limits = Limits(max_tensor_bytes=int(args.max_tensor_mb * 2**20))
    try:
        report = convert(args.model, args.output, weights=args.weights, optimize=not args.no_optimize,
                         passes=passes, limits=limits)
    except ModelFormatError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (EngineUnavailableError, OSError) as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    print(report.format() if args.report else f"wrote {report.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
