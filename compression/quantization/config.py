"""What to quantize and how: defaults per tensor class (weights, activations) plus per-layer overrides."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Any

from compression.quantization.calibrators import CALIBRATORS
from compression.quantization.fake_quant import QUANTIZERS
from compression.quantization.spec import QuantSpec


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


@dataclass(frozen=True)
class LayerOverride:
    """Changes for the layers whose qualified name matches a glob; None fields keep the default."""

    weight_bits: int | None = None
    activation_bits: int | None = None
    weight_calibrator: str | None = None
    activation_calibrator: str | None = None
    per_channel: bool | None = None
    # keep the matching layers entirely in float
    skip: bool = False


@dataclass
class QuantConfig:
    weight: TensorQuant | None = field(
        default_factory=lambda: TensorQuant(QuantSpec(8, symmetric=True, signed=True, per_channel=True))
    )
    activation: TensorQuant | None = field(default_factory=lambda: TensorQuant(QuantSpec(8)))
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
