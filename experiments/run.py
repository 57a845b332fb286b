"""The main job: ``python -m experiments.run`` runs the configured pipeline (default: train).

Steps (train now; compress, export, measure, report later) register themselves in
``experiments.pipeline.STEPS`` from their modules in ``experiments/steps/``.
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from configs.schema import register_configs
from experiments.pipeline import run_pipeline

register_configs()


@hydra.main(version_base="1.3", config_path="../configs", config_name="default")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
