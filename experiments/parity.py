"""Layer-by-layer parity of a compress run's quantized model against its QDQ export on a runtime.

    .venv/bin/python -m experiments.parity runs/compress-ptq/<time> [--backend onnxruntime] [--batch-size 32]

Prints every quantized activation's largest difference in quantization steps and names the first layer off by
more than ``--tolerance-steps``; exits 1 when there is one. The comparison itself is ``measure.parity``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from experiments.compressed_model import load_compressed
from measure.parity import PARITY_BACKENDS, check_parity


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="run directory written by `python -m experiments.compress`")
    parser.add_argument("--backend", default="onnxruntime", help=f"one of {', '.join(PARITY_BACKENDS)}")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tolerance-steps", type=float, default=1.0)
    args = parser.parse_args(argv)
    PARITY_BACKENDS.get(args.backend)  # an unknown backend fails before the model is rebuilt
    model, onnx_path, batch = load_compressed(args.run_dir, batch_size=args.batch_size)
    report = check_parity(model, onnx_path, batch, args.backend, args.tolerance_steps)
    print(report.format())
    return 0 if report.first_divergent is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
