"""What distinguishes the rows of a compress sweep, read from each run's config.yaml.

A setting is a label and a function of the config returning a value, or None where it does not apply
(a pruning option the run did not set, QAT's quantizer on a PTQ run), so only meaningful settings show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

Setting = tuple[str, Callable[[DictConfig], Any]]


def at(path: str) -> Callable[[DictConfig], Any]:
    """The value at a dotted path, None where the config lacks it (older runs, options left at defaults)."""

    def get(cfg: DictConfig) -> Any:
        value = OmegaConf.select(cfg, path, default=None)
        # lists/mappings (feature pairs) go into the JSON too, so they leave OmegaConf's types
        return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value

    return get


def _tensor(which: str) -> Callable[[DictConfig], Any]:
    def get(cfg: DictConfig) -> Any:
        t = OmegaConf.select(cfg, f"compress.{which}", default=None)
        if t is None:
            return None
        if not t.get("enabled", True):
            return "fp32"
        if which == "activation":  # activations are per-tensor by construction
            return f"{t.bits}b {t.calibrator}"
        return f"{t.bits}b {'per-channel' if t.per_channel else 'per-tensor'} {t.calibrator}"

    return get


def _when_method(prefix: str, get: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    def when(cfg: DictConfig) -> Any:
        return get(cfg) if str(OmegaConf.select(cfg, "compress.method", default="")).startswith(prefix) else None

    return when


def _qat_quantizers(cfg: DictConfig) -> str | None:
    w = OmegaConf.select(cfg, "compress.weight.quantizer", default=None)
    a = OmegaConf.select(cfg, "compress.activation.quantizer", default=None)
    return None if w is None and a is None else f"{w}/{a}"


def _ptq_extras(cfg: DictConfig) -> str | None:
    ptq = OmegaConf.select(cfg, "compress.ptq", default=None) or {}
    on = [name for name in ("cross_layer_equalization", "adaround", "bias_correction") if ptq.get(name)]
    return "+".join(on) or None


QUANTIZATION: Sequence[Setting] = (
    ("weight", _tensor("weight")),
    ("act", _tensor("activation")),
    ("quantizer", _when_method("qat", _qat_quantizers)),
    ("ptq", _when_method("ptq", _ptq_extras)),
    ("variant", _when_method("binary", at("compress.binary.variant"))),
    ("budget", _when_method("mixed", at("compress.mixed.size_budget"))),
    ("seed", at("train.seed")),
)

PRUNING: Sequence[Setting] = tuple(
    (name, at(f"compress.options.{name}"))
    for name in ("ratio", "sparsity", "importance", "global_ranking", "scope", "schedule", "strength",
                 "latency_budget_ms")
) + (("seed", at("train.seed")),)

DISTILLATION: Sequence[Setting] = tuple(
    (name, at(f"compress.options.{name}"))
    for name in ("teacher", "temperature", "alpha", "beta", "feature_pairs", "mutual_weight", "from_scratch")
) + (("seed", at("train.seed")),)


def read_settings(settings: Sequence[Setting]) -> Callable[[DictConfig], dict[str, Any]]:
    def read(cfg: DictConfig) -> dict[str, Any]:
        values = ((label, get(cfg)) for label, get in settings)
        return {label: value for label, value in values if value not in (None, "", [])}

    return read
