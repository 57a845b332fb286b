"""What every compress method is made of: the context it works in, its two halves, its one options dataclass,
and the registry ``python -m experiments.compress`` picks it from by name.

A method has two halves so that a saved result can be rebuilt: ``prepare`` builds the compressed structure
(quantizers in place, nothing calibrated) and ``run`` fills it (calibration, training, search).
``experiments.compressed_model`` calls ``prepare`` and then loads the saved state instead of ``run``.

Its settings are one dataclass registered with it (``CompressMethod.options``): the quantization methods
register the section of the ``compress`` schema they read (``PTQConfig`` ...), the others a dataclass of
their own whose fields are the valid ``compress.options`` keys. ``validate_compress`` checks a composed
config against it before any model is loaded or trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from compression.quantization import QuantConfig
from configs.registry import Registry
from configs.schema.compress import method_options_schema, options_section, typed_options
from experiments.runs import RunDir


@dataclass
class CompressContext:
    cfg: DictConfig
    fp32_model: nn.Module
    quant: QuantConfig
    example_input: torch.Tensor
    # None when the model is only being rebuilt from a saved run
    data: Any = None
    run: RunDir | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> Any:
        """The selected method's settings as an instance of its registered options dataclass."""
        return method_options(self.cfg)


@dataclass(frozen=True)
class CompressMethod:
    prepare: Callable[[CompressContext], nn.Module]
    run: Callable[[CompressContext, nn.Module], dict[str, Any]]
    # the dataclass of the method's settings: a quantization section of the compress schema, or the
    # method's own, whose fields are the valid compress.options keys
    options: type

    def __post_init__(self) -> None:
        method_options_schema(self.options)  # a non-dataclass fails at registration, not at the first run


COMPRESS_METHODS: Registry[CompressMethod] = Registry("compress method")


def method_options(cfg: DictConfig) -> Any:
    """``cfg.compress``'s settings for its method, typed by the method's options dataclass."""
    name = str(cfg.compress.method)
    typed = typed_options(name, COMPRESS_METHODS.get(name).options, cfg.compress)
    return OmegaConf.to_object(typed)


def validate_compress(cfg: DictConfig) -> QuantConfig:
    """Check ``cfg.compress`` against its method's schema and build its ``QuantConfig``, before any work.

    An unknown method, a misspelled option, a wrong type or a bad bit width fails here. The method's
    options are written back typed, with every default filled in, so the run's config.yaml records
    them all and any later assignment is checked too.
    """
    name = str(cfg.compress.method)
    method = COMPRESS_METHODS.get(name)
    typed = typed_options(name, method.options, cfg.compress)
    section = options_section(method.options)
    plain = OmegaConf.to_container(cfg.compress, resolve=True)
    plain[section] = OmegaConf.to_container(typed)  # type: ignore[index]
    # the whole node through the method's schema: also a config.yaml read back from a run gets typed
    full = OmegaConf.merge(OmegaConf.structured(method_options_schema(method.options)), plain)
    quant = QuantConfig.from_config(OmegaConf.to_object(full))  # type: ignore[arg-type]
    struct = OmegaConf.is_struct(cfg.compress)
    OmegaConf.set_struct(cfg.compress, False)
    cfg.compress[section] = typed
    OmegaConf.set_struct(cfg.compress, struct)
    OmegaConf.set_struct(cfg.compress[section], True)
    return quant
