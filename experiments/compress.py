"""Compress a trained model: ``python -m experiments.compress compress=<method> source_run=<run dir>``.

Methods come from ``experiments.compress_methods`` (ptq, qat, mixed, binary, ...); the composed
config is checked against the selected method's options dataclass before any model is loaded or
trained (``validate_compress``: a misspelled ``compress.options`` key is named with the valid ones).
Without ``source_run`` a model is trained first from the model/train/data
settings. The run directory gets what a training run has (config.yaml,
metrics.json, summary.md) plus ``checkpoints/compressed.pt``, ``model.fp32.onnx``
and ``model.qdq.onnx``; ``python -m experiments.parity <run dir>``
checks the export layer by layer.
"""

from __future__ import annotations

import math

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from configs.schema import register_configs
from experiments.compress_methods import validate_compress
from experiments.pipeline import run_pipeline

register_configs()


@hydra.main(version_base="1.3", config_path="../configs", config_name="compress")
def main(cfg: DictConfig) -> float:
    validate_compress(cfg)
    result = run_pipeline(cfg, HydraConfig.get().runtime.output_dir)
    metrics = result.run.read_metrics()
    return float(metrics["top1"]) if math.isfinite(metrics["top1"]) else 0.0


if __name__ == "__main__":
    main()
