"""Measured latency of compressed models against their uncompressed architecture, next to MACs.

    .venv/bin/python -m experiments.compressed_latency runs/compress-prune_structured/* --threads 1 2 --out latency.md

MAC counts promise a speed-up; this measures what the bundled engine (and ONNX Runtime, for
reference) really gives. For every compress run directory the compressed model is rebuilt
from the run (config + ``checkpoints/compressed.pt``) and the uncompressed architecture from
the same config; both are exported at batch 1 (``measure.export_model``) and timed with the
protocol of ``measure.timing``: every (engine, before/after, threads) session in the same
interleaved rounds, so the speed-up and the thread scaling are same-round ratios (median over
rounds, with their min-max). Unstructured sparsity is kept in the weights as zeros, so on a
dense engine it buys no speed: the table shows that too.

A quantized run (one whose directory holds ``model.qdq.onnx``) is timed as it deploys: the engine runs the
integer conversion of that QDQ file and ONNX Runtime the QDQ file itself, so the speed-up is what int8 buys
on each engine, next to the engine file's size reduction.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from experiments.io import atomic_write_json, atomic_write_text
from experiments.runs import RunDir
from lightweight_models.complexity import profile
from measure import ExportedModel, TimingProtocol, export_model, interleave, open_runner

ENGINES = ("slimlab", "onnxruntime")


@dataclass
class LatencyRow:
    run: str
    model: str
    method: str
    setting: str
    threads: int
    macs_before: int
    macs_after: int
    slimlab_ms_before: float
    slimlab_ms_after: float
    slimlab_iqr_ms_after: float
    slimlab_speedup: float
    slimlab_speedup_min: float
    slimlab_speedup_max: float
    onnxruntime_ms_before: float
    onnxruntime_ms_after: float
    onnxruntime_speedup: float
    # compressed model on the engine: ms at the lowest thread count / ms at this one (None at the lowest)
    slimlab_thread_speedup: float | None = None
    # engine file bytes; "int8" when the compressed model is the run's QDQ file in integers
    slm_bytes_before: int = 0
    slm_bytes_after: int = 0
    precision_after: str = "fp32"

    @property
    def mac_reduction(self) -> float:
        return self.macs_before / max(self.macs_after, 1)


def _setting(cfg: object) -> str:
    options = cfg.compress.get("options", {}) or {}  # type: ignore[attr-defined]
    for key in ("ratio", "sparsity"):
        if key in options:
            return f"{key}={options[key]}"
    return ""


def measure_run(run_dir: Path, protocol: TimingProtocol, threads: Sequence[int] = (1,)) -> list[LatencyRow]:
    """One row per thread count for the compress run in ``run_dir``."""
    from experiments.compressed_model import rebuild_compressed

    before, after, batch = rebuild_compressed(run_dir, batch_size=1)
    x = batch[:1]
    threads = sorted(set(threads))
    qdq = run_dir / "model.qdq.onnx"
    with tempfile.TemporaryDirectory(prefix="slimlab-latency-") as tmp:
        files = {"before": export_model(before, x, tmp, "before"),
                 "after": _integer_files(qdq, Path(tmp), tuple(x.shape)) if qdq.is_file()
                 else export_model(after, x, tmp, "after")}
        sizes = {which: f.slm.stat().st_size for which, f in files.items()}
        factories = {
            (e, which, t): functools.partial(open_runner, e, f.slm if e == "slimlab" else f.onnx, t)
            for t in threads for which, f in files.items() for e in ENGINES
        }
        res = interleave(factories, protocol)
    cfg = RunDir(run_dir).read_config()
    macs_before, macs_after = profile(before, x.shape).macs, profile(after, x.shape).macs
    rows = []
    for t in threads:
        ms = {(e, which): res.measurements[(e, which, t)] for e in ENGINES for which in files}
        speedup = {e: res.ratio((e, "before", t), (e, "after", t)) for e in ENGINES}
        rows.append(LatencyRow(
            run=run_dir.name, model=str(cfg.model.name), method=str(cfg.compress.method), setting=_setting(cfg),
            threads=t, macs_before=macs_before, macs_after=macs_after,
            slimlab_ms_before=ms[("slimlab", "before")].median_ms, slimlab_ms_after=ms[("slimlab", "after")].median_ms,
            slimlab_iqr_ms_after=ms[("slimlab", "after")].iqr_ms, slimlab_speedup=speedup["slimlab"].median,
            slimlab_speedup_min=speedup["slimlab"].min, slimlab_speedup_max=speedup["slimlab"].max,
            onnxruntime_ms_before=ms[("onnxruntime", "before")].median_ms,
            onnxruntime_ms_after=ms[("onnxruntime", "after")].median_ms,
            onnxruntime_speedup=speedup["onnxruntime"].median,
            slimlab_thread_speedup=None if t == threads[0] else
            res.ratio(("slimlab", "after", threads[0]), ("slimlab", "after", t)).median,
            slm_bytes_before=sizes["before"], slm_bytes_after=sizes["after"],
            precision_after="int8" if qdq.is_file() else "fp32",
        ))
    return rows


def _integer_files(qdq: Path, out: Path, shape: tuple[int, ...]) -> ExportedModel:
    import export

    report = export.convert_model(qdq, out / "after.slm")
    return ExportedModel(qdq, Path(report.output), report, shape)


def to_markdown(rows: Sequence[LatencyRow], protocol: TimingProtocol) -> str:
    lines = [f"Batch 1, {protocol.rounds} interleaved rounds; speed-up = median over rounds of the same-round "
             "(before ms / after ms) [min-max over rounds]; ± is half the IQR of the timed runs; "
             "threads × = the compressed model's same-round speed-up over the lowest thread count.", "",
             "| run | model | method | setting | threads | MACs (M) before → after | MAC reduction | "
             "slimlab ms before → after | slimlab speed-up | ORT speed-up | slimlab threads × | engine file | "
             "size reduction |",
             "|---|---|---|---|---:|---|---:|---|---:|---:|---:|---|---:|"]
    for r in rows:
        scaling = "" if r.slimlab_thread_speedup is None else f"{r.slimlab_thread_speedup:.2f}×"
        lines.append(
            f"| {r.run} | {r.model} | {r.method} | {r.setting} | {r.threads}"
            f" | {r.macs_before / 1e6:.2f} → {r.macs_after / 1e6:.2f} | {r.mac_reduction:.2f}×"
            f" | {r.slimlab_ms_before:.3f} → {r.slimlab_ms_after:.3f} ±{r.slimlab_iqr_ms_after / 2:.3f}"
            f" | {r.slimlab_speedup:.2f}× [{r.slimlab_speedup_min:.2f}-{r.slimlab_speedup_max:.2f}]"
            f" | {r.onnxruntime_speedup:.2f}× | {scaling} | {r.precision_after}"
            f" | {r.slm_bytes_before / max(r.slm_bytes_after, 1):.2f}× |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[LatencyRow]:
    parser = argparse.ArgumentParser(prog="python -m experiments.compressed_latency",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="compress run directories")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30, help="timed runs per round, at least")
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds of timed runs per round, at least")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="one or more thread counts")
    parser.add_argument("--out", type=Path, default=None, help="Markdown table (and .json beside it)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.iterations < 1 or min(args.threads) < 1 or args.min_time < 0 or args.warmup < 0:
        parser.error("--rounds, --iterations and --threads must be >= 1, --min-time and --warmup >= 0")
    for run in args.runs:
        if not (run / "checkpoints" / "compressed.pt").is_file():
            parser.error(f"{run} is not a finished compress run (no checkpoints/compressed.pt)")
    protocol = TimingProtocol(warmup=args.warmup, min_runs=args.iterations, min_time_s=args.min_time,
                              rounds=args.rounds)
    rows = []
    for run in args.runs:
        for row in measure_run(run, protocol, args.threads):
            rows.append(row)
            print(f"{run} ({row.threads}t): MACs ÷{row.mac_reduction:.2f}, slimlab ×{row.slimlab_speedup:.2f}, "
                  f"ORT ×{row.onnxruntime_speedup:.2f}", flush=True)
    text = to_markdown(rows, protocol)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
        atomic_write_json(args.out.with_suffix(".json"),
                          [{**asdict(r), "mac_reduction": r.mac_reduction} for r in rows])
    return rows


if __name__ == "__main__":
    main()
