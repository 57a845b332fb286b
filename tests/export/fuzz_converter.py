"""The long fuzz run of the ONNX -> engine converter; prints its figures.

    .venv/bin/python -m tests.export.fuzz_converter -n 100000            # about 50 min on one core
    .venv/bin/python -m tests.export.fuzz_converter --minutes 10 --seed 7 --jobs 2

Mutants run in chunks, each in a child process with an address-space limit, so that a crash or a runaway
allocation in native code (onnx's C++, the engine) is a finding with its mutant index, not the end of the
run. Findings are saved as ``<workdir>/findings/<seed>-<index>.onnx``; any one is rebuilt from two integers
with ``Fuzzer(seeds, seed).mutant(index)`` (tests/export/fuzzing.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.export.fuzzing import MORE_SEEDS, TEST_SEEDS, Finding, Fuzzer, Tally, export_seeds, prepare_folder


def _seed_bytes(workdir: Path) -> list[bytes]:
    return [p.read_bytes() for p in export_seeds(workdir / "seeds", TEST_SEEDS + MORE_SEEDS)]


# ---- child: one chunk of mutants ------------------------------------------------------------------------
def _worker(args: argparse.Namespace) -> int:
    limit = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # a runaway allocation raises instead of OOM-killing
    import warnings

    warnings.simplefilter("ignore")  # numpy/onnx warnings on hostile data are expected, not findings
    import engine
    from tests.export.fuzzing import check_mutant

    workdir = Path(args.workdir)
    fuzzer = Fuzzer(_seed_bytes(workdir), args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-", dir=workdir))
    model_dir = prepare_folder(scratch)
    matrix = engine.supported_ops()
    tally = Tally()
    progress = Path(args.progress)
    for i in range(args.start, args.end):
        progress.write_text(str(i))
        check_mutant(i, fuzzer.mutant(i), model_dir, matrix, tally)
    shutil.rmtree(scratch)  # left behind only when the child dies, next to the mutant that killed it
    Path(args.result).write_text(json.dumps({
        "mutants": tally.mutants, "converted": tally.converted, "errors": dict(tally.errors),
        "findings": [f.__dict__ for f in tally.findings],
    }))
    return 0


# ---- parent ------------------------------------------------------------------------------------------
def _run_chunk(args: argparse.Namespace, start: int, end: int, fuzzer: Fuzzer) -> Tally:
    """Run [start, end) in children; a child that dies is a finding at the mutant it was on."""
    tally = Tally()
    workdir = Path(args.workdir)
    while start < end:
        progress, result = workdir / f"progress-{start}", workdir / f"result-{start}.json"
        cmd = [sys.executable, "-m", "tests.export.fuzz_converter", "--worker", "--start", str(start), "--end",
               str(end), "--seed", str(args.seed), "--workdir", str(workdir), "--progress", str(progress),
               "--result", str(result), "--memory-gb", str(args.memory_gb)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.chunk_timeout, check=False)
            status, tail = proc.returncode, proc.stderr[-2000:]
        except subprocess.TimeoutExpired:
            status, tail = "timeout", ""
        if status == 0 and result.exists():
            data = json.loads(result.read_text())
            tally.mutants += data["mutants"]
            tally.converted += data["converted"]
            tally.errors.update(data["errors"])
            tally.findings += [Finding(**f) for f in data["findings"]]
            start = end
        else:
            at = int(progress.read_text()) if progress.exists() else start
            what = "hang (chunk timeout)" if status == "timeout" else f"child died (status {status})"
            tally.mutants += at - start + 1  # the ones before it ran fine but their tally died with the child
            tally.findings.append(Finding(at, fuzzer.mutant(at).steps, what, tail))
            start = at + 1
        progress.unlink(missing_ok=True)
        result.unlink(missing_ok=True)
    return tally


def _report(tally: Tally, seconds: float, args: argparse.Namespace) -> str:
    n = max(tally.mutants, 1)
    lines = [f"base seed {args.seed}: {tally.mutants} mutants in {seconds:.0f} s ({tally.mutants / seconds:.0f}/s)",
             f"  converted and loaded by the engine: {tally.converted} ({100 * tally.converted / n:.1f}%)",
             f"  refused with ModelFormatError: {sum(tally.errors.values())} "
             f"({100 * sum(tally.errors.values()) / n:.1f}%), by kind:"]
    lines += [f"    {kind:<20} {count:>7}  {100 * count / n:5.1f}%" for kind, count in tally.errors.most_common()]
    lines.append(f"  findings (unexpected exceptions, crashes, files the engine refuses): {len(tally.findings)}")
    by_class = Counter(f.error.split(":")[0] for f in tally.findings)
    for cls, count in by_class.most_common():
        first = next(f for f in tally.findings if f.error.split(":")[0] == cls)
        lines.append(f"    {count:>5} x {first.error[:200]}\n          first: mutant {first.index} {first.steps}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.export.fuzz_converter", description=__doc__.split("\n")[0])
    p.add_argument("-n", "--mutants", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1, help="base seed (the test suite uses 0)")
    p.add_argument("--minutes", type=float, default=None, help="stop after this long (whole chunks)")
    p.add_argument("--chunk", type=int, default=500, help="mutants per child process")
    p.add_argument("--chunk-timeout", type=float, default=600)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--memory-gb", type=float, default=4.0, help="address-space limit of each child")
    p.add_argument("--workdir", default=None, help="seeds, scratch and saved findings (default: a temp dir)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--start", "--end"):
        p.add_argument(hidden, type=int, help=argparse.SUPPRESS)
    for hidden in ("--progress", "--result"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="slimlab-fuzz-")
    workdir = Path(args.workdir)
    fuzzer = Fuzzer(_seed_bytes(workdir), args.seed)
    chunks = [(a, min(a + args.chunk, args.mutants)) for a in range(0, args.mutants, args.chunk)]
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    began, tally = time.monotonic(), Tally()

    def run(chunk: tuple[int, int]) -> Tally:
        if deadline is not None and time.monotonic() > deadline:
            return Tally()
        return _run_chunk(args, *chunk, fuzzer)

    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        for done, part in enumerate(pool.map(run, chunks), 1):
            tally.merge(part)
            if done % 10 == 0 or done == len(chunks):
                print(f"... {tally.mutants} mutants, {len(tally.findings)} findings", file=sys.stderr, flush=True)
    finally:
        # on an error (or ^C) the queued chunks must not keep the run going behind the traceback
        pool.shutdown(wait=False, cancel_futures=True)
    saved = workdir / "findings"
    for f in tally.findings:
        saved.mkdir(exist_ok=True)
        (saved / f"{args.seed}-{f.index}.onnx").write_bytes(fuzzer.mutant(f.index).data)
        (saved / f"{args.seed}-{f.index}.txt").write_text(f"{f.steps}\n{f.error}\n{f.trace}")
    print(_report(tally, time.monotonic() - began, args))
    if tally.findings:
        print(f"  mutants and tracebacks saved under {saved}")
    return 1 if tally.findings else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
