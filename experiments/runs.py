"""The run directory: the single source of truth of a run, read by every later report.

Layout::

    config.yaml          resolved config
    metrics.json         final figures
    history.jsonl        one JSON record per epoch
    summary.md           short human summary
    checkpoints/last.pt  latest epoch (resume point)
    checkpoints/best.pt  best validation top-1
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from experiments.io import atomic_torch_save, atomic_write_json, atomic_write_text


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not fit the model."""


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    config_path = property(lambda self: self.path / "config.yaml")
    metrics_path = property(lambda self: self.path / "metrics.json")
    history_path = property(lambda self: self.path / "history.jsonl")
    summary_path = property(lambda self: self.path / "summary.md")
    checkpoint_dir = property(lambda self: self.path / "checkpoints")

    def checkpoint_path(self, name: str = "last") -> Path:
        return self.checkpoint_dir / f"{name}.pt"

    def write_config(self, cfg: DictConfig) -> None:
        atomic_write_text(self.config_path, OmegaConf.to_yaml(cfg, resolve=True))

    def read_config(self) -> DictConfig:
        if not self.config_path.is_file():
            raise FileNotFoundError(f"{self.config_path} not found: {self.path} is not a slimlab run directory")
        return OmegaConf.load(self.config_path)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_json(self.metrics_path, metrics)

    def read_metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_path.read_text())

    def update_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Merge ``metrics`` into metrics.json (later pipeline steps add their figures to the earlier ones')."""
        merged = {**(self.read_metrics() if self.metrics_path.is_file() else {}), **metrics}
        self.write_metrics(merged)
        return merged

    def read_history(self) -> list[dict[str, Any]]:
        if not self.history_path.is_file():
            return []
        return [json.loads(line) for line in self.history_path.read_text().splitlines() if line.strip()]

    def write_history(self, records: list[dict[str, Any]]) -> None:
        # rewritten whole (atomically) so a resumed run never duplicates or half-writes a record
        atomic_write_text(self.history_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))

    def write_summary(self, text: str) -> None:
        atomic_write_text(self.summary_path, text)

    def save_checkpoint(self, state: dict[str, Any], name: str = "last") -> Path:
        return atomic_torch_save(state, self.checkpoint_path(name))

    def load_checkpoint(self, name: str = "last") -> dict[str, Any]:
        path = self.checkpoint_path(name)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for corrupt files
            raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {exc}") from exc
        if not isinstance(state, dict) or "model" not in state:
            raise CheckpointError(f"checkpoint {path} has no 'model' entry")
        return state


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load weights, failing with a message that names the mismatching tensors."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"checkpoint {source} does not match the model configuration: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, shape mismatches {shapes[:5]}"
        )
    model.load_state_dict(state)


def load_trained(run_dir: str | Path, checkpoint: str = "best") -> tuple[nn.Module, DictConfig]:
    """Rebuild a trained model from a training run directory (its config.yaml + checkpoint)."""
    from experiments.models import build_model

    run = RunDir(run_dir)
    cfg = run.read_config()
    model = build_model(cfg.model, num_classes=cfg.model.num_classes)
    name = checkpoint if run.checkpoint_path(checkpoint).is_file() else "last"
    state = run.load_checkpoint(name)
    weights = state.get("ema") or state["model"]
    load_state_strict(model, weights, str(run.checkpoint_path(name)))
    model.eval()
    return model, cfg
