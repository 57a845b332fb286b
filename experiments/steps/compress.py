"""The ``compress`` pipeline step: run one compress method on the source step's model and save the result.

Methods come from ``experiments.compress_methods`` (ptq, qat, mixed, binary, prune_*, distill_* ...). The run
directory gets ``checkpoints/compressed.pt``, from which ``experiments.compressed_model`` rebuilds the model, and
metrics.json the method's figures and the weight bytes at each weight's bit width. Evaluation, QDQ export and
runtime accuracy are the steps that follow (``evaluate``, ``export_qdq``, ``runtime_accuracy``).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig
from torch import nn

from compression.quantization.modules import QuantizedLayer
from experiments.compress_methods import COMPRESS_METHODS, CompressContext, validate_compress
from experiments.steps.base import STEPS, PipelineContext


def model_bytes(fp32_model: nn.Module, qmodel: nn.Module) -> tuple[float, float]:
    """(fp32 bytes, bytes with each quantized weight at its bit width) over the compressed model's tensors."""
    fp32 = sum(p.numel() for p in fp32_model.parameters()) * 4.0
    quant_numel, quant_bits = 0, 0.0
    for m in qmodel.modules():
        if isinstance(m, QuantizedLayer) and m.weight_quant is not None:
            n = m.layer.weight.numel()
            quant_numel += n
            quant_bits += n * getattr(m.weight_quant, "storage_bits", m.weight_quant.grid_spec().bits)
    rest = sum(p.numel() for p in qmodel.parameters()) - quant_numel
    return fp32, rest * 4.0 + quant_bits / 8.0


def check_compress(cfg: DictConfig) -> None:
    """The method name, its typed options and the quantization settings, before any step loads or trains a model."""
    validate_compress(cfg)


@STEPS.register("compress", check=check_compress)
def compress_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    method = COMPRESS_METHODS.get(cfg.compress.method)
    quant = validate_compress(cfg)
    source = ctx.results["source"]
    fp32_model, data = source["fp32_model"], source["data"]
    example = next(iter(data.val_loader))[0][:2]
    cctx = CompressContext(cfg, fp32_model, quant, example, data, ctx.run)
    qmodel = method.prepare(cctx)
    info = method.run(cctx, qmodel)
    qmodel.eval()
    ctx.run.save_checkpoint({"model": qmodel.state_dict(), "method": cfg.compress.method}, "compressed")
    fp32_bytes, q_bytes = model_bytes(fp32_model, qmodel)
    metrics: dict[str, Any] = {
        "name": cfg.name,
        "model": cfg.model.name,
        "data": cfg.data.name,
        "method": cfg.compress.method,
        "fp32_weight_bytes": fp32_bytes,
        "weight_bytes": q_bytes,
        "size_ratio": q_bytes / fp32_bytes,
        **{k: v for k, v in {**cctx.info, **info}.items() if isinstance(v, (int, float, str, bool, dict, list))},
    }
    ctx.run.update_metrics(metrics)
    return {"model": qmodel, "example_input": example[:1], "metrics": metrics}
