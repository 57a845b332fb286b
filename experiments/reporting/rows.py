"""The row of one run directory: its metrics.json values, its kind and the settings of its config.yaml."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from experiments.reporting.errors import RunTableError
from experiments.reporting.kinds import ROW_KINDS, kind_of

METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class Row:
    """One run. Metric values read as attributes too (``row.top1``), so rows sort and filter plainly."""

    kind: str
    run: str  # the run directory, relative to the scanned directory
    values: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def __getattr__(self, name: str) -> Any:
        # only reached for names that are not fields; dataclass internals must not recurse into values
        if name.startswith("__") or name not in self.__dict__.get("values", {}):
            raise AttributeError(name)
        return self.values[name]

    def settings_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings.items()) or "-"

    def as_json(self) -> dict[str, Any]:
        out = dict(self.values)
        if self.settings:
            out["settings"] = dict(self.settings)
        out["run"] = self.run
        return out


def read_metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunTableError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(metrics, dict):
        raise RunTableError(f"{path} must hold a JSON object, got {type(metrics).__name__}")
    return metrics


def read_config(run_dir: Path) -> DictConfig | None:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        cfg = OmegaConf.load(path)
    except yaml.YAMLError as exc:
        raise RunTableError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(cfg, DictConfig):
        raise RunTableError(f"{path} must hold a mapping, got a list")
    return cfg


def read_row(metrics_path: Path, root: Path) -> Row:
    """The row of one run; malformed or incomplete metrics name the file and what is wrong."""
    metrics = read_metrics(metrics_path)
    kind = kind_of(metrics, metrics_path)
    missing = [k for k in kind.required if metrics.get(k) is None]
    if missing:
        raise RunTableError(f"{metrics_path} lacks {', '.join(missing)} (needed by a {kind.name} row)")
    settings: dict[str, Any] = {}
    if kind.settings is not None:
        cfg = read_config(metrics_path.parent)
        if cfg is None:
            raise RunTableError(
                f"{metrics_path.parent / CONFIG_FILE} is missing: a {kind.name} row shows the run's settings from it"
            )
        settings = kind.settings(cfg)
    return Row(kind.name, str(metrics_path.parent.relative_to(root)), kind.values(metrics), settings)


def collect_rows(root: Path) -> list[Row]:
    """Rows of every run under ``root``, grouped by kind, each kind sorted by its key (then run directory)."""
    if not root.is_dir():
        raise RunTableError(f"{root} is not a directory")
    rows = [read_row(p, root) for p in root.rglob(METRICS_FILE)]
    if not rows:
        raise RunTableError(f"no run directory (one holding {METRICS_FILE}) under {root}")
    return sorted(rows, key=lambda r: (ROW_KINDS.get(r.kind).order, ROW_KINDS.get(r.kind).sort_key(r), r.run))
