"""Engine latency against ONNX Runtime and PyTorch eager (Hydra entry point).

    .venv/bin/python -m experiments.benchmark                       # configs/benchmark.yaml
    .venv/bin/python -m experiments.benchmark models=[tv/mobilenet_v2] rounds=3 threads=[1]

Rounds are interleaved across engines: each round runs every engine on the
same model back to back, so a machine-wide slowdown hits all of them alike.
Per round each engine gets the median of `iterations` timed runs; its ratio
to ONNX Runtime is taken within the round, and the reported ratio is the
median over rounds. OpenVINO, ncnn and MNN run only when installed (a note
says when they are skipped). Writes benchmark.md and benchmark.json into the
run directory.
"""

from __future__ import annotations

import importlib.util
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from experiments.io import atomic_write_json, atomic_write_text

REFERENCE = "onnxruntime"
OPTIONAL_ENGINES = {"openvino": "openvino", "ncnn": "ncnn", "mnn": "MNN"}


@dataclass
class BenchmarkConfig:
    models: list[str] = field(default_factory=list)
    engines: list[str] = field(default_factory=lambda: ["slimlab", "onnxruntime", "pytorch"])
    threads: list[int] = field(default_factory=lambda: [1, 2])
    batch: int = 1
    rounds: int = 5
    warmup: int = 3
    iterations: int = 10
    input_size: int | None = None  # None: each model's default resolution


ConfigStore.instance().store(name="base_benchmark", node=BenchmarkConfig)

Runner = Callable[[], object]


def default_size(name: str) -> int:
    import lightweight_models

    if name.startswith(("tv/", "timm/")):
        return 256 if "mobilevit" in name else 224
    return int(lightweight_models.model_info(name).get("default_input", 224))


@dataclass
class PreparedModel:
    name: str
    torch_model: object
    onnx_path: Path
    slm_path: Path
    x: np.ndarray


def prepare(name: str, cfg: BenchmarkConfig, workdir: Path) -> PreparedModel:
    import torch

    import export
    import lightweight_models

    torch.manual_seed(0)
    model = lightweight_models.create_model(name).eval()
    channels = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
    size = cfg.input_size or default_size(name)
    x = np.random.default_rng(0).standard_normal((cfg.batch, channels, size, size)).astype(np.float32)
    stem = name.replace("/", "_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_path = export.to_onnx(model, torch.from_numpy(x), workdir / f"{stem}.onnx", verify=False)
    slm_path = workdir / f"{stem}.slm"
    export.convert_model(onnx_path, slm_path)
    return PreparedModel(name, model, onnx_path, slm_path, x)


def make_runner(engine_name: str, m: PreparedModel, threads: int) -> Runner:
    if engine_name == "slimlab":
        import engine

        sess = engine.Session(m.slm_path, threads=threads)
        feeds = {sess.inputs[0].name: m.x}
        return lambda: sess.run(None, feeds)
    if engine_name == "onnxruntime":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        osess = ort.InferenceSession(str(m.onnx_path), opts, providers=["CPUExecutionProvider"])
        ofeeds = {osess.get_inputs()[0].name: m.x}
        return lambda: osess.run(None, ofeeds)
    if engine_name == "pytorch":
        import torch

        xt = torch.from_numpy(m.x)

        def run_torch() -> object:
            # torch's thread count is process-wide: set it on every call since other runners share the process
            torch.set_num_threads(threads)
            with torch.inference_mode():
                return m.torch_model(xt)

        return run_torch
    if engine_name == "openvino":
        import openvino as ov

        # f32 pinned: on AVX512-BF16/AMX CPUs OpenVINO otherwise silently runs bf16
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY"}
        compiled = ov.Core().compile_model(str(m.onnx_path), "CPU", config)
        return lambda: compiled([m.x])
    raise ValueError(f"engine '{engine_name}' has no runner here (known: slimlab, onnxruntime, pytorch, openvino)")


def available_engines(requested: list[str]) -> list[str]:
    engines = []
    for name in requested:
        module = OPTIONAL_ENGINES.get(name)
        if module is not None and importlib.util.find_spec(module) is None:
            print(f"note: {name} is not installed; skipping it")
            continue
        if name in ("ncnn", "mnn"):
            print(f"note: {name} needs its own model conversion, which this benchmark does not do; skipping it")
            continue
        engines.append(name)
    if REFERENCE not in engines:
        raise ValueError(f"the engines must include {REFERENCE}: ratios are taken against it")
    return engines


def time_ms(run: Runner, warmup: int, iterations: int) -> float:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def benchmark_model(m: PreparedModel, engines: list[str], threads: int, cfg: BenchmarkConfig) -> dict[str, dict]:
    runners = {e: make_runner(e, m, threads) for e in engines}
    per_round: dict[str, list[float]] = {e: [] for e in engines}
    ratios: dict[str, list[float]] = {e: [] for e in engines}
    for _ in range(cfg.rounds):
        medians = {e: time_ms(runners[e], cfg.warmup, cfg.iterations) for e in engines}
        for e in engines:
            per_round[e].append(medians[e])
            ratios[e].append(medians[e] / medians[REFERENCE])
    return {e: {"median_ms": statistics.median(per_round[e]), "ratio_to_ort": statistics.median(ratios[e]),
                "round_ms": per_round[e]} for e in engines}


def to_markdown(results: list[dict], engines: list[str]) -> str:
    head = "| model | threads | " + " | ".join(f"{e} ms (x ORT)" for e in engines) + " |"
    lines = [head, "|" + "---|" * (2 + len(engines))]
    for r in results:
        cells = [f"{r['engines'][e]['median_ms']:.2f} ({r['engines'][e]['ratio_to_ort']:.2f})" for e in engines]
        lines.append(f"| {r['model']} | {r['threads']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_benchmark(cfg: BenchmarkConfig, out_dir: Path) -> list[dict]:
    if not cfg.models:
        raise ValueError("models is empty: name at least one model (zoo name, tv/<name> or timm/<name>)")
    if cfg.rounds < 1 or cfg.iterations < 1 or any(t < 1 for t in cfg.threads):
        raise ValueError("rounds, iterations and threads must be >= 1")
    import torch

    engines = available_engines(list(cfg.engines))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in cfg.models:
            m = prepare(name, cfg, Path(tmp))
            for threads in cfg.threads:
                torch.set_num_threads(threads)
                res = benchmark_model(m, engines, threads, cfg)
                results.append({"model": name, "threads": threads, "batch": cfg.batch,
                                "input_shape": list(m.x.shape), "engines": res})
                print(f"{name} threads={threads}: " + ", ".join(
                    f"{e} {res[e]['median_ms']:.2f} ms (x{res[e]['ratio_to_ort']:.2f})" for e in engines))
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "benchmark.md", to_markdown(results, engines))
    atomic_write_json(out_dir / "benchmark.json", {"config": OmegaConf.to_container(OmegaConf.structured(cfg)),
                                                   "results": results})
    return results


@hydra.main(version_base="1.3", config_path="../configs", config_name="benchmark")
def main(cfg: BenchmarkConfig) -> None:
    typed = OmegaConf.to_object(cfg) if not isinstance(cfg, BenchmarkConfig) else cfg
    run_benchmark(typed, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
