"""The ``compress`` pipeline step: load (or train) an fp32 model, run a compress method, evaluate, export.

Methods come from ``experiments.compress_methods`` (ptq, qat, mixed, binary, prune_*, distill_* ...).
The run directory gets what a training run has (config.yaml, metrics.json, summary.md) plus
``checkpoints/compressed.pt``, and for quantized models ``model.fp32.onnx`` and ``model.qdq.onnx``;
``python -m compression.quantization.parity <run dir>`` checks the export layer by layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from experiments.compress_methods import COMPRESS_METHODS, CompressContext, import_methods
from experiments.compress_methods.quant_config import build_quant_config
from experiments.data import build_data
from experiments.models import build_model
from experiments.pipeline import STEPS, PipelineContext
from experiments.runs import RunDir, load_state_strict, load_trained
from experiments.training import evaluate, fit

import_methods()


def _model_bytes(fp32_model: nn.Module, qmodel: nn.Module) -> tuple[float, float]:
    """(fp32 bytes, bytes with each quantized weight at its bit width) over the compressed model's tensors."""
    from compression.quantization.modules import QuantizedLayer

    fp32 = sum(p.numel() for p in fp32_model.parameters()) * 4.0
    quant_numel, quant_bits = 0, 0.0
    for m in qmodel.modules():
        if isinstance(m, QuantizedLayer) and m.weight_quant is not None:
            n = m.layer.weight.numel()
            quant_numel += n
            quant_bits += n * getattr(m.weight_quant, "storage_bits", m.weight_quant.grid_spec().bits)
    rest = sum(p.numel() for p in qmodel.parameters()) - quant_numel
    return fp32, rest * 4.0 + quant_bits / 8.0


def _source(cfg: DictConfig, run: RunDir) -> tuple[nn.Module, Any]:
    """The fp32 model (loaded or trained first) and the data bundle."""
    if cfg.source_run:
        # a checkpoint that does not fit its config fails here, before any other work
        model, src_cfg = load_trained(cfg.source_run, cfg.checkpoint)
        # the model is the source run's; recorded so this run can be rebuilt from its own config.yaml
        with open_dict(cfg):
            for key, value in src_cfg.model.items():
                cfg.model[key] = value
        return model, build_data(cfg.data)
    data = build_data(cfg.data)
    cfg.model.num_classes = data.num_classes
    model = build_model(cfg.model, num_classes=data.num_classes)
    fit(model, data, cfg.train, run.path / "fp32")
    model.eval()
    return model, data


def _ort_top1(path: Path, loader: Any, max_batches: int | None) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    correct = n = 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        logits = session.run(None, {name: x.numpy()})[0]
        correct += int((np.argmax(logits, 1) == y.numpy()).sum())
        n += y.numel()
    return 100.0 * correct / max(n, 1)


def compress(cfg: DictConfig, run: RunDir) -> dict[str, Any]:
    # names and bit widths are validated before the model is loaded or trained
    method = COMPRESS_METHODS.get(cfg.compress.method)
    quant = build_quant_config(cfg.compress)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    fp32_model, data = _source(cfg, run)
    run.write_config(cfg)
    max_batches = cfg.compress.eval_max_batches
    example = next(iter(data.val_loader))[0][:2]
    ctx = CompressContext(cfg, fp32_model, quant, example, data, run)
    qmodel = method.prepare(ctx)
    info = method.run(ctx, qmodel)
    qmodel.eval()
    fp32_test = evaluate(fp32_model, data.test_loader, "cpu", max_batches)
    q_test = evaluate(qmodel, data.test_loader, "cpu", max_batches)
    run.save_checkpoint({"model": qmodel.state_dict(), "method": cfg.compress.method}, "compressed")
    fp32_bytes, q_bytes = _model_bytes(fp32_model, qmodel)
    metrics: dict[str, Any] = {
        "name": cfg.name,
        "model": cfg.model.name,
        "data": cfg.data.name,
        "method": cfg.compress.method,
        "fp32_top1": fp32_test["top1"],
        "top1": q_test["top1"],
        "fp32_weight_bytes": fp32_bytes,
        "weight_bytes": q_bytes,
        "size_ratio": q_bytes / fp32_bytes,
        **{k: v for k, v in {**ctx.info, **info}.items() if isinstance(v, (int, float, str, bool, dict, list))},
    }
    if cfg.compress.export:
        from export import to_onnx
        from export.qdq import export_qdq

        single = example[:1]
        fp32_onnx = to_onnx(fp32_model, single, run.path / "model.fp32.onnx")
        report = export_qdq(qmodel, single, run.path / "model.qdq.onnx")
        metrics.update(
            onnx_fp32_bytes=fp32_onnx.stat().st_size,
            onnx_qdq_bytes=report.file_bytes,
            onnx_size_ratio=report.file_bytes / fp32_onnx.stat().st_size,
            onnx_opset=report.opset,
            onnx_top1=_ort_top1(report.path, data.test_loader, max_batches),
        )
    run.write_metrics(metrics)
    run.write_summary(summary_text(metrics))
    return {"model": qmodel, "metrics": metrics}


def summary_text(m: dict[str, Any]) -> str:
    rows = [("fp32 top-1", f"{m['fp32_top1']:.2f}"), (f"{m['method']} top-1", f"{m['top1']:.2f}"),
            ("weight bytes", f"{m['weight_bytes']:.0f} ({100 * m['size_ratio']:.1f}% of fp32)")]
    if "onnx_top1" in m:
        rows += [("ONNX Runtime top-1", f"{m['onnx_top1']:.2f}"),
                 ("QDQ file", f"{m['onnx_qdq_bytes']} bytes ({100 * m['onnx_size_ratio']:.1f}% of fp32 file)")]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"# {m['name']}: {m['model']} on {m['data']}, {m['method']}\n\n| | |\n|---|---|\n{body}\n"


def rebuild_compressed(run_dir: str | Path, batch_size: int = 32) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """Rebuild a compressed model from its run directory: (the uncompressed architecture, untrained;
    the compressed model with its saved weights; a test batch)."""
    run = RunDir(run_dir)
    cfg = run.read_config()
    method = COMPRESS_METHODS.get(cfg.compress.method)
    fp32 = build_model(cfg.model, num_classes=cfg.model.num_classes).eval()
    OmegaConf.set_struct(cfg, False)
    cfg.data.batch_size = cfg.data.eval_batch_size = batch_size
    data = build_data(cfg.data)
    batch = next(iter(data.test_loader))[0]
    ctx = CompressContext(cfg, fp32, build_quant_config(cfg.compress), batch[:2], None, run)
    model = method.prepare(ctx)
    load_state_strict(model, run.load_checkpoint("compressed")["model"], str(run.checkpoint_path("compressed")))
    from compression.quantization import set_quant_mode

    set_quant_mode(model, "frozen")
    return fp32, model.eval(), batch


def load_compressed(run_dir: str | Path, batch_size: int = 32) -> tuple[nn.Module, Path, torch.Tensor]:
    """Rebuild a quantized model from its run directory: (model, QDQ file, a test batch)."""
    onnx_path = Path(run_dir) / "model.qdq.onnx"
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path} not found: the run was made with compress.export=false")
    _, model, batch = rebuild_compressed(run_dir, batch_size)
    return model, onnx_path, batch


@STEPS.register("compress")
def compress_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    return compress(cfg, ctx.run)
