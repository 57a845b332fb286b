"""``compress`` config -> ``QuantConfig`` (validated before any work: bit widths, names, overrides)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from compression.quantization import LayerOverride, QuantConfig, QuantSpec, TensorQuant


def tensor_quant(cfg: DictConfig, what: str) -> TensorQuant | None:
    if not cfg.enabled:
        return None
    try:
        spec = QuantSpec(int(cfg.bits), symmetric=cfg.symmetric, signed=cfg.signed, per_channel=cfg.per_channel)
        args = OmegaConf.to_container(cfg.calibrator_args, resolve=True) or {}
        return TensorQuant(spec, cfg.calibrator, tuple(sorted(args.items())), cfg.quantizer)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"compress.{what}: {exc}") from exc


def build_quant_config(cfg: DictConfig) -> QuantConfig:
    overrides = {
        str(pattern): LayerOverride(**OmegaConf.to_container(ov, resolve=True))  # type: ignore[arg-type]
        for pattern, ov in cfg.overrides.items()
    }
    return QuantConfig(
        weight=tensor_quant(cfg.weight, "weight"),
        activation=tensor_quant(cfg.activation, "activation"),
        overrides=overrides,
        functional=cfg.functional,
        fold_bn=cfg.fold_bn,
    )
