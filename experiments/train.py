"""Train and evaluate one model from the config: ``python -m experiments.train [overrides]``.

The same work is the ``train`` step of ``python -m experiments.run`` (experiments/steps/train.py).
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from configs.schema import register_configs
from experiments.pipeline import run_pipeline

register_configs()


@hydra.main(version_base="1.3", config_path="../configs", config_name="default")
def main(cfg: DictConfig) -> float:
    cfg.pipeline = ["train"]
    ctx = run_pipeline(cfg, HydraConfig.get().runtime.output_dir)
    # the return value is what a sweeper optimizes
    return float(ctx.results["train"]["metrics"]["test_top1"])


if __name__ == "__main__":
    main()
