"""One entry point for every model: ``create_model(name, **kwargs)``.

Our own families register themselves; ``timm/<name>`` and ``tv/<name>`` reach
the reference implementations so an experiment can swap one for the other by
changing a single config value.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from configs.registry import Registry, UnknownNameError

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

_EXTERNAL_PREFIXES = ("timm/", "tv/")
# arguments every zoo model takes; external models get them translated or rejected
_UNIVERSAL_DEFAULTS = {"width_mult": 1.0, "small_input": False}


def register_model(name: str | None = None, **meta: Any) -> Callable:
    """Decorator registering a model constructor. ``meta`` documents it (family, default input, ...)."""
    return MODELS.register(name, **meta)


def _import_families() -> None:
    """Register our families: ``lightweight_models.models`` imports each of them by name. Done on first
    use, not at import, because every family module imports this one to register itself."""
    import lightweight_models.models  # noqa: F401


def list_models(pattern: str | None = None) -> list[str]:
    """Names of our own registered models, optionally filtered by a glob pattern."""
    _import_families()
    names = MODELS.names()
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def model_info(name: str) -> dict[str, Any]:
    """Registration metadata of one of our models (family, default input size, reference ...)."""
    _import_families()
    return dict(MODELS.meta(name))


def _load_local_weights(model: nn.Module, path: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"pretrained_path {path} does not exist")
    state = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"weights in {path} do not match the model: missing {list(missing)[:5]}, "
            f"unexpected {list(unexpected)[:5]}"
        )


def _create_external(name: str, pretrained_path: str | None, **kwargs: Any) -> nn.Module:
    prefix, _, inner = name.partition("/")
    for key, default in _UNIVERSAL_DEFAULTS.items():
        if key in kwargs and kwargs.pop(key) != default:
            raise ValueError(f"{name}: argument {key} is only supported by slimlab's own models")
    kwargs.pop("input_size", None)
    if prefix == "timm":
        import timm

        if not timm.is_model(inner):
            raise UnknownNameError("timm model", inner, timm.list_models())
        if pretrained_path:
            # timm's own local-file mechanism: no hub access
            return timm.create_model(
                inner, pretrained=True, pretrained_cfg_overlay={"file": pretrained_path}, **kwargs
            )
        return timm.create_model(inner, pretrained=False, **kwargs)
    import torchvision

    valid = torchvision.models.list_models(module=torchvision.models)
    if inner not in valid:
        raise UnknownNameError("torchvision model", inner, valid)
    in_chans = kwargs.pop("in_chans", 3)
    if in_chans != 3:
        raise ValueError(f"{name}: torchvision models take in_chans=3 only, got {in_chans}")
    kwargs.pop("drop_rate", None)
    model = torchvision.models.get_model(inner, weights=None, **kwargs)
    if pretrained_path:
        _load_local_weights(model, pretrained_path)
    return model


def create_model(name: str, pretrained_path: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a model by name: ours, ``timm/<name>`` or ``tv/<name>``.

    Unknown names fail with the closest valid names. ``pretrained_path`` loads a
    local weights file; nothing is ever downloaded.
    """
    if name.startswith(_EXTERNAL_PREFIXES):
        return _create_external(name, pretrained_path, **kwargs)
    _import_families()
    ctor = MODELS.get(name)
    model = ctor(**kwargs)
    if pretrained_path:
        _load_local_weights(model, pretrained_path)
    return model
