"""Experiment tracking backends by ``tracking.mode``: wandb offline (default), online, or none.

The run directory's own files exist whatever the mode; wandb is a mirror of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from configs.registry import Registry


class NullTracker:
    def log(self, metrics: dict[str, Any], step: int) -> None:
        pass

    def summary(self, metrics: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbTracker:
    """wandb in offline or online mode, writing under the run directory (``wandb sync`` uploads later)."""

    def __init__(self, mode: str, cfg: DictConfig, run_dir: Path, config: dict[str, Any], name: str) -> None:
        import wandb  # imported lazily: it is slow to import and unused when tracking is disabled

        self._wandb = wandb
        self.run = wandb.init(
            mode=mode,
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            tags=list(cfg.tags),
            name=name,
            dir=str(run_dir),
            config=config,
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.run.log(metrics, step=step)

    def summary(self, metrics: dict[str, Any]) -> None:
        for k, v in metrics.items():
            if isinstance(v, (int, float, str)):
                self.run.summary[k] = v

    def finish(self) -> None:
        self.run.finish()


TRACKERS: Registry[Callable[..., Any]] = Registry("tracking mode")
TRACKERS.add("disabled", lambda cfg, run_dir, config, name: NullTracker())
TRACKERS.add("offline", lambda cfg, run_dir, config, name: WandbTracker("offline", cfg, run_dir, config, name))
TRACKERS.add("online", lambda cfg, run_dir, config, name: WandbTracker("online", cfg, run_dir, config, name))


def build_tracker(cfg: DictConfig, run_dir: Path, full_config: DictConfig, name: str) -> Any:
    mode = cfg.mode.value if hasattr(cfg.mode, "value") else str(cfg.mode)
    config = OmegaConf.to_container(full_config, resolve=True)
    return TRACKERS.get(mode)(cfg, Path(run_dir), config, name)
