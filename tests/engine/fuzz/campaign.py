"""The long fuzz campaign of the engine's loader, planner and inference, and its figures.

    .venv/bin/python -m tests.engine.fuzz.campaign --runs 1000000 --seconds 14400 --jobs 2 --coverage

Builds engine/tests/fuzz/fuzz_model under ASan + UBSan (as a libFuzzer target with clang when clang++ is on
PATH, else as the standalone driver with the default compiler), makes the seed files (make_seeds.py: real zoo,
torchvision and timm models) unless --seeds names a folder of them, fuzzes until --runs mutants or --seconds
have passed, then prints the figures: mutants, seeds, execs/s, crashes, hangs, out-of-memory, sanitizer reports,
and with --coverage the line coverage (gcov) of the loader, planner, session and every op file, from a
replay of the corpus the campaign kept (libFuzzer) or of a fixed-seed run of the driver.

Crashing inputs land in OUT/artifacts; each one found becomes a regression file in engine/tests/regressions
(see that folder's README), which ctest replays on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ENGINE = ROOT / "engine"
DICT = ENGINE / "tests" / "fuzz" / "slm.dict"
# What "loader + planner + shape inference" means in the coverage figures.
CORE = ["loader.cpp", "plan.cpp", "session.cpp", "memory_planner.cpp", "attrs.cpp", "tensor.cpp", "op.cpp"]


def sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, text=True, **kw)  # type: ignore[call-overload]


def build(build_dir: Path, libfuzzer: bool, coverage: bool = False) -> Path:
    args = ["cmake", "-S", ENGINE, "-B", build_dir, "-DSLIMLAB_BUILD_TESTS=ON", "-DSLIMLAB_BUILD_TOOLS=OFF"]
    if shutil.which("ninja"):
        args += ["-G", "Ninja"]
    if coverage:
        # Plain -O0 with gcov counters: the figures are lines reached, not speed.
        args += ["-DCMAKE_BUILD_TYPE=Debug", "-DCMAKE_CXX_FLAGS=--coverage", "-DCMAKE_EXE_LINKER_FLAGS=--coverage"]
    else:
        args += ["-DSLIMLAB_SANITIZE=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
    if libfuzzer:
        args += ["-DCMAKE_CXX_COMPILER=clang++", "-DSLIMLAB_LIBFUZZER=ON"]
    sh(args, stdout=subprocess.DEVNULL)
    sh(["cmake", "--build", build_dir, "-j2", "--target", "fuzz_model"])
    return build_dir / "tests" / "fuzz_model"


def ensure_seeds(seeds: Path) -> list[Path]:
    files = sorted(seeds.glob("*.slm")) if seeds.is_dir() else []
    if not files:
        sh([sys.executable, "-m", "tests.engine.fuzz.make_seeds", seeds], cwd=ROOT)
        files = sorted(seeds.glob("*.slm"))
    return files


def run_libfuzzer(binary: Path, seeds: Path, out: Path, runs: int, seconds: int, jobs: int) -> dict[str, object]:
    corpus, artifacts = out / "corpus", out / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    max_len = max(p.stat().st_size for p in seeds.glob("*.slm")) + 65536
    cmd = [binary, f"-fork={jobs}", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1",
           f"-runs={runs}", f"-max_total_time={seconds}", f"-max_len={max_len}", "-timeout=20",
           "-rss_limit_mb=4096", "-malloc_limit_mb=1024", f"-dict={DICT}", f"-artifact_prefix={artifacts}/",
           "-print_final_stats=1", corpus, seeds]
    log = out / "libfuzzer.log"
    start = time.monotonic()
    with log.open("w") as f:
        print("+", " ".join(str(c) for c in cmd), flush=True)
        subprocess.run([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - start
    text = log.read_text(errors="replace")
    # Fork mode's status lines: "#123456: cov: ... exec/s: 300 oom/timeout/crash: 0/0/0 time: 3600s ..."
    status = re.findall(r"#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec/s:? (\d+) oom/timeout/crash: (\d+)/(\d+)/(\d+)",
                        text)
    execs = int(status[-1][0]) if status else 0
    oom, timeouts, crashes = (int(x) for x in status[-1][5:8]) if status else (0, 0, 0)
    return {
        "engine": "libFuzzer (clang, -fork)",
        "mutants": execs,
        "seconds": round(elapsed),
        "execs_per_s": round(execs / elapsed, 1) if elapsed else 0.0,
        "crashes": crashes,
        "hangs": timeouts,
        "ooms": oom,
        "sanitizer_reports": len(re.findall(r"ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:", text)),
        "artifacts": sorted(p.name for p in artifacts.iterdir()),
        "coverage_edges": int(status[-1][1]) if status else 0,
        "corpus": corpus,
        "log": log,
    }


def run_driver(binary: Path, seeds: Path, out: Path, runs: int, seconds: int, jobs: int) -> dict[str, object]:
    """The standalone driver: batches of mutants with fresh RNG seeds; a crash ends a batch, not the campaign."""
    artifacts = out / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    log = out / "driver.log"
    batch, rng, done, crashes, hangs, reports = 20000, 1, 0, 0, 0, 0
    start = time.monotonic()
    procs: list[subprocess.Popen[str]] = []
    with log.open("w") as f:
        while done < runs and time.monotonic() - start < seconds:
            while len(procs) < jobs:
                left = max(1, int(seconds - (time.monotonic() - start)))
                procs.append(subprocess.Popen(
                    [str(binary), "--fuzz", str(seeds), "--iterations", str(batch), "--seconds", str(left),
                     "--rng", str(rng), "--artifacts", str(artifacts), "--timeout", "20"],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
                rng += 1
            p = procs.pop(0)
            text, _ = p.communicate()
            f.write(text)
            m = re.findall(r"fuzz: (\d+) mutants", text)
            done += int(m[-1]) if m else 0
            if p.returncode != 0:
                hang = "HANG" in text
                hangs += hang
                crashes += not hang
                reports += len(re.findall(r"ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:", text))
                done += 1
        for p in procs:
            text, _ = p.communicate()
            f.write(text)
            m = re.findall(r"fuzz: (\d+) mutants", text)
            done += int(m[-1]) if m else 0
    elapsed = time.monotonic() - start
    return {
        "engine": "standalone driver (no coverage guidance)",
        "mutants": done,
        "seconds": round(elapsed),
        "execs_per_s": round(done / elapsed, 1) if elapsed else 0.0,
        "crashes": crashes,
        "hangs": hangs,
        "ooms": 0,
        "sanitizer_reports": reports,
        "artifacts": sorted(p.name for p in artifacts.iterdir()),
        "log": log,
    }


def coverage(out: Path, inputs: list[Path], seeds: Path, fuzz_iterations: int) -> dict[str, object]:
    """Line coverage (gcov) of the core and the ops on a --coverage build: from replaying `inputs` (what a
    libFuzzer campaign kept), else from `fuzz_iterations` mutants of the driver (fixed RNG seed)."""
    build_dir = ROOT / "build" / "fuzz-coverage"
    if build_dir.exists():
        for gcda in build_dir.rglob("*.gcda"):
            gcda.unlink()
    binary = build(build_dir, libfuzzer=False, coverage=True)
    listing = out / "coverage-inputs"
    listing.mkdir(exist_ok=True)
    for src in inputs:  # one folder of links: the driver replays folders
        for p in (sorted(src.glob("*")) if src.is_dir() else [src]):
            link = listing / f"{abs(hash(str(p)))}.slm"
            if not link.exists():
                link.symlink_to(p.resolve())
    subprocess.run([str(binary), "--replay", str(listing), "--timeout", "60"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.STDOUT, check=False)
    if fuzz_iterations:
        subprocess.run([str(binary), "--fuzz", str(seeds), "--iterations", str(fuzz_iterations), "--rng", "1",
                        "--artifacts", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=False)
    objects = build_dir / "CMakeFiles" / "slim_engine.dir" / "src"
    files: dict[str, tuple[int, int]] = {}
    infer_lines = [0, 0]
    for sub in ("core", "ops"):
        for gcno in sorted((objects / sub).glob("*.gcno")):
            source = ENGINE / "src" / sub / gcno.name.replace(".o.gcno", "").replace(".gcno", "")
            # -o names the object file: CMake's notes are loader.cpp.gcno, not the loader.gcno gcov would guess.
            res = subprocess.run(["gcov", "-n", "-f", "-m", "-o", str(gcno.with_suffix(".o")), str(source)],
                                 capture_output=True, text=True, cwd=out, check=False).stdout
            m = re.search(rf"File '{re.escape(str(source))}'\nLines executed:([\d.]+)% of (\d+)", res)
            if m:
                total = int(m.group(2))
                files[f"{sub}/{source.name}"] = (round(float(m.group(1)) * total / 100), total)
            # Shape inference: the ops' infer functions and the geometry helpers they call.
            for fm in re.finditer(r"Function '([^']*)'\nLines executed:([\d.]+)% of (\d+)", res):
                name = fm.group(1)
                if sub == "ops" and re.search(r"\binfer_|_spec\(|resolve\(|read_geometry|deconv_geometry|"
                                              r"split_sizes|reduce_plan|matmul_dims|transpose_perm", name):
                    total = int(fm.group(3))
                    infer_lines[0] += round(float(fm.group(2)) * total / 100)
                    infer_lines[1] += total

    def pct(hit: int, total: int) -> float:
        return round(100.0 * hit / total, 1) if total else 0.0

    core_hit = sum(files[f"core/{n}"][0] for n in CORE if f"core/{n}" in files)
    core_total = sum(files[f"core/{n}"][1] for n in CORE if f"core/{n}" in files)
    ops_hit = sum(v[0] for k, v in files.items() if k.startswith("ops/"))
    ops_total = sum(v[1] for k, v in files.items() if k.startswith("ops/"))
    return {
        "files": {k: f"{pct(*v)}% of {v[1]}" for k, v in files.items()},
        "core_line_coverage": f"{pct(core_hit, core_total)}% of {core_total} lines ({', '.join(CORE)})",
        "ops_line_coverage": f"{pct(ops_hit, ops_total)}% of {ops_total} lines",
        "shape_inference_line_coverage": f"{pct(*infer_lines)}% of {infer_lines[1]} lines",
        "command": (f"{binary} --replay <corpus + seeds>"
                    + (f" and --fuzz <seeds> --iterations {fuzz_iterations} --rng 1" if fuzz_iterations else "")
                    + f"; gcov -n -f -m -o {objects}/<core|ops>/<file>.o <source>"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=Path, default=ROOT / "build" / "fuzz" / "seeds")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz" / "campaign")
    parser.add_argument("--runs", type=int, default=1_000_000, help="mutants to run (all jobs together)")
    parser.add_argument("--seconds", type=int, default=4 * 3600, help="wall-clock limit")
    parser.add_argument("--jobs", type=int, default=2, help="parallel fuzzing processes")
    parser.add_argument("--engine", choices=["auto", "libfuzzer", "driver"], default="auto")
    parser.add_argument("--coverage", action="store_true", help="also measure line coverage (gcov)")
    parser.add_argument("--coverage-only", action="store_true",
                        help="skip fuzzing: measure coverage from OUT/corpus (a finished libFuzzer campaign)")
    parser.add_argument("--coverage-mutants", type=int, default=20000,
                        help="driver only: mutants run on the coverage build (libFuzzer replays its corpus)")
    args = parser.parse_args(argv)
    use_libfuzzer = args.engine == "libfuzzer" or (args.engine == "auto" and shutil.which("clang++") is not None)
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = ensure_seeds(args.seeds)
    if args.coverage_only:
        figures: dict[str, object] = json.loads((args.out / "figures.json").read_text())
        figures["coverage"] = coverage(args.out, [args.out / "corpus", args.seeds], args.seeds, 0)
        (args.out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures["coverage"], indent=2))
        return
    binary = build(ROOT / "build" / ("fuzz-libfuzzer" if use_libfuzzer else "fuzz-driver"), use_libfuzzer)
    runner = run_libfuzzer if use_libfuzzer else run_driver
    figures = runner(binary, args.seeds, args.out, args.runs, args.seconds, args.jobs)
    figures["seeds"] = [p.name for p in seeds]
    if args.coverage:
        corpus = [Path(str(figures["corpus"]))] if "corpus" in figures else []
        figures["coverage"] = coverage(args.out, [*corpus, args.seeds], args.seeds,
                                       0 if corpus else args.coverage_mutants)
    summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in figures.items()}
    (args.out / "figures.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    bad = int(summary["crashes"]) + int(summary["hangs"]) + int(summary["sanitizer_reports"])  # type: ignore[call-overload]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
