"""Rebuild a compressed model from its run directory: the API that reports, latency tools and parity checks use.

A compress method has two halves (``prepare`` builds the compressed structure, ``run`` fills it), so a saved
result is rebuilt by ``prepare`` plus the saved state, with no data and no calibration.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn

from compression.quantization import set_quant_mode
from experiments.compress_methods import COMPRESS_METHODS, CompressContext, validate_compress
from experiments.data import build_data
from experiments.models import build_model
from experiments.runs import RunDir, load_state_strict


def rebuild_compressed(run_dir: str | Path, batch_size: int = 32) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """(the uncompressed architecture, untrained; the compressed model with its saved weights; a test batch)."""
    run = RunDir(run_dir)
    cfg = run.read_config()
    method = COMPRESS_METHODS.get(cfg.compress.method)
    fp32 = build_model(cfg.model, num_classes=cfg.model.num_classes).eval()
    OmegaConf.set_struct(cfg, False)
    cfg.data.batch_size = cfg.data.eval_batch_size = batch_size
    data = build_data(cfg.data)
    batch = next(iter(data.test_loader))[0]
    ctx = CompressContext(cfg, fp32, validate_compress(cfg), batch[:2], None, run)
    model = method.prepare(ctx)
    load_state_strict(model, run.load_checkpoint("compressed")["model"], str(run.checkpoint_path("compressed")))
    set_quant_mode(model, "frozen")
    return fp32, model.eval(), batch


def load_compressed(run_dir: str | Path, batch_size: int = 32) -> tuple[nn.Module, Path, torch.Tensor]:
    """A quantized model rebuilt from its run directory: (model, its QDQ file, a test batch)."""
    onnx_path = Path(run_dir) / "model.qdq.onnx"
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path} not found: the run was made with compress.export=false")
    _, model, batch = rebuild_compressed(run_dir, batch_size)
    return model, onnx_path, batch
