"""Measured latency of compressed models against their uncompressed architecture, next to MACs.

    .venv/bin/python -m experiments.compressed_latency runs/compress-prune_structured/* [--out latency.md]

MAC counts promise a speed-up; this measures what the bundled engine (and ONNX Runtime, for
reference) really gives. For every compress run directory the compressed model is rebuilt
from the run (config + ``checkpoints/compressed.pt``) and the uncompressed architecture from
the same config; both are exported at batch 1 and timed in interleaved rounds (each round
times all four sessions back to back, so a machine-wide slowdown hits them alike). The
speed-up is taken within each round; the median over rounds is reported. Unstructured
sparsity is kept in the weights as zeros, so on a dense engine it buys no speed: the table
shows that too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from experiments.benchmark import PreparedModel, make_runner, time_ms
from experiments.io import atomic_write_json, atomic_write_text
from experiments.runs import RunDir
from lightweight_models.complexity import profile

ENGINES = ("slimlab", "onnxruntime")


@dataclass
class LatencyRow:
    run: str
    model: str
    method: str
    setting: str
    macs_before: int
    macs_after: int
    slimlab_ms_before: float
    slimlab_ms_after: float
    slimlab_speedup: float
    onnxruntime_ms_before: float
    onnxruntime_ms_after: float
    onnxruntime_speedup: float

    @property
    def mac_reduction(self) -> float:
        return self.macs_before / max(self.macs_after, 1)


def _setting(cfg: object) -> str:
    options = cfg.compress.get("options", {}) or {}  # type: ignore[attr-defined]
    for key in ("ratio", "sparsity"):
        if key in options:
            return f"{key}={options[key]}"
    return ""


def _prepare(name: str, model: nn.Module, x: torch.Tensor, workdir: Path) -> PreparedModel:
    import export

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_path = export.to_onnx(model, x, workdir / f"{name}.onnx", dynamic_batch=False, verify=False)
    slm_path = workdir / f"{name}.slm"
    export.convert_model(onnx_path, slm_path)
    return PreparedModel(name, model, onnx_path, slm_path, x.numpy())


def measure_run(run_dir: Path, rounds: int, iterations: int, threads: int) -> LatencyRow:
    from experiments.steps.compress import rebuild_compressed

    before, after, batch = rebuild_compressed(run_dir, batch_size=1)
    x = batch[:1]
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="slimlab-latency-") as tmp:
        models = {"before": _prepare("before", before, x, Path(tmp)), "after": _prepare("after", after, x, Path(tmp))}
        runners = {(e, k): make_runner(e, m, threads) for e in ENGINES for k, m in models.items()}
        times: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
        for _ in range(rounds):
            for key, run in runners.items():
                times[key].append(time_ms(run, 3, iterations))
    speedup = {e: statistics.median(b / a for b, a in zip(times[(e, "before")], times[(e, "after")]))
               for e in ENGINES}
    ms = {key: statistics.median(v) for key, v in times.items()}
    cfg = RunDir(run_dir).read_config()
    return LatencyRow(
        run=run_dir.name, model=str(cfg.model.name), method=str(cfg.compress.method), setting=_setting(cfg),
        macs_before=profile(before, x.shape).macs, macs_after=profile(after, x.shape).macs,
        slimlab_ms_before=ms[("slimlab", "before")], slimlab_ms_after=ms[("slimlab", "after")],
        slimlab_speedup=speedup["slimlab"],
        onnxruntime_ms_before=ms[("onnxruntime", "before")], onnxruntime_ms_after=ms[("onnxruntime", "after")],
        onnxruntime_speedup=speedup["onnxruntime"],
    )


def to_markdown(rows: Sequence[LatencyRow], threads: int) -> str:
    lines = [f"Batch 1, {threads} thread(s); speed-up = median over rounds of (before ms / after ms).", "",
             "| run | model | method | setting | MACs (M) before → after | MAC reduction | "
             "slimlab ms before → after | slimlab speed-up | ORT speed-up |",
             "|---|---|---|---|---|---:|---|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.run} | {r.model} | {r.method} | {r.setting} | {r.macs_before / 1e6:.2f} → {r.macs_after / 1e6:.2f}"
            f" | {r.mac_reduction:.2f}× | {r.slimlab_ms_before:.3f} → {r.slimlab_ms_after:.3f}"
            f" | {r.slimlab_speedup:.2f}× | {r.onnxruntime_speedup:.2f}× |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[LatencyRow]:
    parser = argparse.ArgumentParser(prog="python -m experiments.compressed_latency",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="compress run directories")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="Markdown table (and .json beside it)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.iterations < 1 or args.threads < 1:
        parser.error("--rounds, --iterations and --threads must be >= 1")
    for run in args.runs:
        if not (run / "checkpoints" / "compressed.pt").is_file():
            parser.error(f"{run} is not a finished compress run (no checkpoints/compressed.pt)")
    rows = []
    for run in args.runs:
        rows.append(measure_run(run, args.rounds, args.iterations, args.threads))
        print(f"{run}: MACs ÷{rows[-1].mac_reduction:.2f}, slimlab ×{rows[-1].slimlab_speedup:.2f}, "
              f"ORT ×{rows[-1].onnxruntime_speedup:.2f}", flush=True)
    text = to_markdown(rows, args.threads)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
        atomic_write_json(args.out.with_suffix(".json"),
                          [{**asdict(r), "mac_reduction": r.mac_reduction} for r in rows])
    return rows


if __name__ == "__main__":
    main()
