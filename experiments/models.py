"""Model config -> ``nn.Module`` through the zoo's registry."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from lightweight_models import create_model


def build_model(model_cfg: DictConfig, num_classes: int | None = None) -> nn.Module:
    """Build ``model_cfg.name`` with the universal arguments and the family's ``kwargs``."""
    num_classes = num_classes or model_cfg.num_classes
    if num_classes is None:
        raise ValueError("model.num_classes is not set and no data set provided it")
    kwargs: dict[str, Any] = dict(
        num_classes=int(num_classes),
        in_chans=model_cfg.in_chans,
        drop_rate=model_cfg.drop_rate,
    )
    external = model_cfg.name.startswith(("timm/", "tv/"))
    if not external:
        kwargs.update(
            width_mult=model_cfg.width_mult,
            small_input=model_cfg.small_input,
            input_size=model_cfg.input_size,
        )
    elif model_cfg.small_input or model_cfg.width_mult != 1.0:
        raise ValueError(
            f"model {model_cfg.name}: small_input/width_mult apply to slimlab's own models only; "
            "set model.small_input=false and model.width_mult=1.0"
        )
    extra = OmegaConf.to_container(model_cfg.kwargs, resolve=True) if model_cfg.kwargs else {}
    kwargs.update(extra)  # type: ignore[arg-type]
    return create_model(model_cfg.name, pretrained_path=model_cfg.pretrained_path, **kwargs)
