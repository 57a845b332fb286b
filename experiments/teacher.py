"""Where a distillation teacher comes from: a training run directory or any registered model name.

It lives with the experiments because a run directory is theirs; compression's distillation losses take the
teacher as a module and never look at runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from compression.distillation import freeze
from experiments.runs import load_trained
from lightweight_models import create_model


def load_teacher(source: str, checkpoint: str = "best", **model_kwargs: Any) -> nn.Module:
    """A frozen teacher from ``source``: a run directory (its config.yaml + checkpoint), else a
    registered model name built with ``model_kwargs`` (``pretrained_path`` for weights)."""
    path = Path(source)
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise FileNotFoundError(f"teacher run directory {path} has no config.yaml")
        model, _ = load_trained(path, checkpoint)
        return freeze(model)
    return freeze(create_model(source, **model_kwargs))
