"""What to quantize and how: defaults per tensor class (weights, activations) plus per-layer overrides.

The settings are declared once, by the ``compress`` schema (``configs.schema.compress``): ``LayerOverride``
is its ``LayerOverrideConfig``, and ``QuantConfig.from_config`` / ``TensorQuant.from_config`` build the
runtime objects (validated ``QuantSpec`` grids, registered calibrator and quantizer names) from exactly
those fields. The defaults of ``QuantConfig()`` are the schema's defaults.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any

from compression.quantization.calibrators import CALIBRATORS
from compression.quantization.fake_quant import QUANTIZERS
from compression.quantization.spec import QuantSpec
from configs.schema.compress import CompressConfig, LayerOverrideConfig, TensorQuantConfig

# one declaration of a per-layer override: the schema's, whose fields resolve_override reads
LayerOverride = LayerOverrideConfig


@dataclass(frozen=True)
class TensorQuant:
    """How one tensor class is quantized: the grid, the calibrator choosing its range, the quantizer kind."""

    spec: QuantSpec
    calibrator: str = "minmax"
    calibrator_args: tuple[tuple[str, Any], ...] = ()
    quantizer: str = "ste"

    def __post_init__(self) -> None:
        CALIBRATORS.get(self.calibrator)  # unknown names fail here, before any work
        QUANTIZERS.get(self.quantizer)

    @classmethod
    def from_config(cls, cfg: TensorQuantConfig, where: str = "") -> TensorQuant | None:
        """The runtime form of one tensor class's schema settings; None when ``cfg.enabled`` is false.
        A bad bit width or name fails with ``where`` (e.g. ``compress.weight``) in the message."""
        if not cfg.enabled:
            return None
        try:
            spec = QuantSpec(int(cfg.bits), symmetric=cfg.symmetric, signed=cfg.signed, per_channel=cfg.per_channel)
            args = tuple(sorted(dict(cfg.calibrator_args or {}).items()))
            return cls(spec, cfg.calibrator, args, cfg.quantizer)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{where}: {exc}" if where else str(exc)) from exc


@dataclass
class QuantConfig:
    weight: TensorQuant | None = field(default_factory=lambda: TensorQuant.from_config(CompressConfig().weight))
    activation: TensorQuant | None = field(
        default_factory=lambda: TensorQuant.from_config(CompressConfig().activation)
    )
    overrides: dict[str, LayerOverride] = field(default_factory=dict)
    # insert quantizers at add/mul/cat/matmul/softmax inputs (torch.fx where traceable)
    functional: bool = True
    fold_bn: bool = True

    def __post_init__(self) -> None:
        if self.activation is not None and self.activation.spec.per_channel:
            raise ValueError("per-channel activation quantization is not supported; use a per-tensor activation spec")
        for pattern, ov in self.overrides.items():
            # build once so a bad bit width in an override fails now, not halfway through
            self.resolve_override(ov, f"override '{pattern}'")

    @classmethod
    def from_config(cls, cfg: CompressConfig, where: str = "compress") -> QuantConfig:
        """The quantizers a ``compress`` config asks for, validated before any work (bit widths, names,
        overrides); ``cfg`` is the schema object or a config node with its fields."""
        overrides = {
            str(pattern): ov if isinstance(ov, LayerOverride) else LayerOverride(**dict(ov))
            for pattern, ov in (cfg.overrides or {}).items()
        }
        return cls(
            weight=TensorQuant.from_config(cfg.weight, f"{where}.weight"),
            activation=TensorQuant.from_config(cfg.activation, f"{where}.activation"),
            overrides=overrides,
            functional=cfg.functional,
            fold_bn=cfg.fold_bn,
        )

    def resolve_override(self, ov: LayerOverride, where: str) -> tuple[TensorQuant | None, TensorQuant | None]:
        weight, act = self.weight, self.activation
        if ov.skip:
            return None, None
        try:
            if weight is not None:
                spec = weight.spec
                if ov.weight_bits is not None:
                    spec = replace(spec, bits=ov.weight_bits)
                if ov.per_channel is not None:
                    spec = replace(spec, per_channel=ov.per_channel)
                weight = replace(weight, spec=spec, calibrator=ov.weight_calibrator or weight.calibrator)
            if act is not None:
                spec = act.spec if ov.activation_bits is None else replace(act.spec, bits=ov.activation_bits)
                act = replace(act, spec=spec, calibrator=ov.activation_calibrator or act.calibrator)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        return weight, act

    def for_layer(self, name: str) -> tuple[TensorQuant | None, TensorQuant | None]:
        """(weight, activation) settings of layer ``name``: the defaults changed by every matching override."""
        weight, act = self.weight, self.activation
        for pattern, ov in self.overrides.items():
            if fnmatch.fnmatchcase(name, pattern):
                base = QuantConfig(weight, act, functional=self.functional, fold_bn=self.fold_bn)
                weight, act = base.resolve_override(ov, f"override '{pattern}'")
        return weight, act
