"""Print the engine's op x dtype support matrix, generated from the compiled op registry.

    python -m engine.support_matrix            # JSON {op_type: [dtypes]}
    python -m engine.support_matrix --markdown # a table for docs
"""

from __future__ import annotations

import argparse
import json

from engine import supported_ops


def to_markdown(matrix: dict[str, list[str]]) -> str:
    dtypes = sorted({d for ds in matrix.values() for d in ds})
    lines = ["| op | " + " | ".join(dtypes) + " |", "|---|" + "---|" * len(dtypes)]
    for op in sorted(matrix):
        lines.append(f"| {op} | " + " | ".join("x" if d in matrix[op] else "" for d in dtypes) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")
    args = parser.parse_args(argv)
    matrix = supported_ops()
    print(to_markdown(matrix) if args.markdown else json.dumps(matrix, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
