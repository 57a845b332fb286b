"""Schema of the ``compress`` group and of the top-level ``compress`` experiment config.

Every setting is declared once:

* How tensors are quantized (``TensorQuantConfig``, ``LayerOverrideConfig``) is declared here only;
  ``compression.quantization`` builds its runtime ``QuantConfig`` from exactly these fields, and its
  ``LayerOverride`` is ``LayerOverrideConfig`` itself.
* The quantization sections (``ptq``, ``qat``, ``mixed``, ``binary``) are part of the base schema
  because several methods read them (qat, mixed and binary calibrate with ``ptq.calibration_batches``,
  the fp32 ``finetune`` control trains on the ``qat`` schedule); they are typed at composition.
* Every other method's settings live in ``compress.options``, typed by the one options dataclass the
  method registers (``experiments.compress_methods``). The options dataclass lives in the method's own
  module rather than here, so adding a method is one file plus one registration: ``configs`` is the
  bottom layer and cannot import the methods, so the method hands its dataclass down and
  ``method_options_schema`` builds the method's ``compress`` schema from it. ``options`` is left open
  at composition (the YAML files need not repeat every default to make ``compress.options.ratio=0.25``
  a valid override) and ``typed_options`` checks it right after composition, before any model is
  loaded or trained, naming a misspelled key and listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from configs.schema.experiment import ExperimentConfig

# where the settings of a method without a quantization section live
OPTIONS = "options"


@dataclass
class TensorQuantConfig:
    # 2..8
    bits: int = 8
    symmetric: bool = False
    signed: bool = False
    per_channel: bool = False
    # minmax | moving_average | percentile | entropy | mse
    calibrator: str = "minmax"
    calibrator_args: dict[str, Any] = field(default_factory=dict)
    # ste | lsq | pact (pact: activations only)
    quantizer: str = "ste"
    # false keeps this tensor class in float (e.g. weight-only quantization)
    enabled: bool = True


@dataclass
class LayerOverrideConfig:
    """Changes for the layers whose qualified name matches a glob; None fields keep the default."""

    weight_bits: int | None = None
    activation_bits: int | None = None
    weight_calibrator: str | None = None
    activation_calibrator: str | None = None
    per_channel: bool | None = None
    # keep the matching layers entirely in float
    skip: bool = False


@dataclass
class PTQConfig:
    calibration_batches: int = 8
    bias_correction: bool = False
    cross_layer_equalization: bool = False
    # CLE across ReLU6 (MobileNetV2): replace the ReLU6 between equalized pairs by ReLU first, as the DFQ
    # paper does; changes the fp32 function slightly (the run records how many were replaced)
    cle_relu6_to_relu: bool = False
    adaround: bool = False
    adaround_iters: int = 200


@dataclass
class QATConfig:
    epochs: int = 2
    # fine-tuning lr, about 2% of the zoo models' training peak (0.05): once BN is folded the network has
    # no normalisation left to absorb large steps, and at 0.005 MobileViT-XXS diverged even in fp32
    lr: float = 0.001
    # BN statistics keep updating for this many epochs, then freeze (folded into the weights); null never
    # freezes. 0 suits fine-tuning a trained model: on MobileNetV2 W4A8 LSQ (32 steps) freezing at once gave
    # 82.4 validation top-1, while batch statistics for the whole epoch gave 75.1 (train/eval statistics mismatch)
    bn_freeze_epoch: int | None = 0
    # >0 adds distillation from the fp32 model: loss = (1-w) CE + w T^2 KL
    distill_weight: float = 0.0
    distill_temperature: float = 4.0


@dataclass
class MixedConfig:
    candidate_bits: list[int] = field(default_factory=lambda: [8, 6, 4])
    # weight bytes allowed, as a fraction of the fp32 weight bytes (0.25 == all int8)
    size_budget: float = 0.18
    # batches of the validation set used to measure each layer's sensitivity
    eval_batches: int = 2


@dataclass
class BinaryConfig:
    # bnn | xnor | twn
    variant: str = "xnor"
    # bit width of the first and last layers, kept at higher precision as the papers do
    keep_bits: int = 8
    epochs: int = 2
    lr: float = 0.005


@dataclass
class CompressConfig:
    method: str = "ptq"
    weight: TensorQuantConfig = field(
        default_factory=lambda: TensorQuantConfig(bits=8, symmetric=True, signed=True, per_channel=True)
    )
    activation: TensorQuantConfig = field(default_factory=TensorQuantConfig)
    # glob over qualified layer names -> changes for those layers
    overrides: dict[str, LayerOverrideConfig] = field(default_factory=dict)
    functional: bool = True
    fold_bn: bool = True
    ptq: PTQConfig = field(default_factory=PTQConfig)
    qat: QATConfig = field(default_factory=QATConfig)
    mixed: MixedConfig = field(default_factory=MixedConfig)
    binary: BinaryConfig = field(default_factory=BinaryConfig)
    # write model.fp32.onnx / model.qdq.onnx and evaluate the QDQ file with ONNX Runtime
    export: bool = True
    # cap the evaluation batches of the test set (quick runs); null evaluates all
    eval_max_batches: int | None = None
    # the selected method's own settings, typed by its registered options dataclass (typed_options)
    options: Any = field(default_factory=dict)


@dataclass
class CompressExperimentConfig(ExperimentConfig):
    compress: CompressConfig = field(default_factory=CompressConfig)
    # a training run directory to take the model from; null trains one first (model/train/data)
    source_run: str | None = None
    checkpoint: str = "best"


class CompressOptionsError(ValueError):
    """A method setting that its options dataclass does not declare, or a value of the wrong type."""


def options_section(options: type) -> str:
    """Where under ``compress`` the settings typed by ``options`` live: the base schema's quantization
    section of that type, otherwise ``options``."""
    hints = typing.get_type_hints(CompressConfig)
    return next((name for name, hint in hints.items() if name != OPTIONS and hint is options), OPTIONS)


def method_options_schema(options: type) -> type:
    """The ``compress`` schema of a method whose settings ``options`` types: ``CompressConfig`` with
    ``options`` typed by it (a method with a quantization section takes no ``options``)."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"a compress method's options must be a dataclass, got {options!r}")
    if options_section(options) != OPTIONS:
        return CompressConfig
    return dataclasses.make_dataclass(
        f"{options.__name__}CompressConfig", [(OPTIONS, options, field(default_factory=options))],
        bases=(CompressConfig,),
    )


def _plain(node: Any) -> dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    if dataclasses.is_dataclass(node):
        return dataclasses.asdict(node)  # type: ignore[arg-type]
    return dict(node)


def typed_options(method: str, options: type, compress: Mapping[str, Any] | DictConfig) -> DictConfig:
    """The settings of compress method ``method`` in ``compress`` merged over the defaults of ``options``
    (its registered dataclass), as a typed node.

    A key ``options`` does not declare fails naming it and listing the valid keys, a value of the wrong
    type fails naming its full key, and a method with a quantization section fails on any
    ``compress.options`` (it has none).
    """
    method_options_schema(options)  # not a dataclass: fails here
    section = options_section(options)
    values = _plain(compress.get(section))
    if section != OPTIONS and _plain(compress.get(OPTIONS)):
        raise CompressOptionsError(
            f"compress method '{method}' takes no compress.options (its settings are compress.{section}.*), "
            f"got {', '.join(sorted(_plain(compress.get(OPTIONS))))}"
        )
    valid = sorted(f.name for f in dataclasses.fields(options))
    unknown = sorted(set(values) - set(valid))
    if unknown:
        close = difflib.get_close_matches(unknown[0], valid, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        keys = ", ".join(f"compress.{section}.{k}" for k in unknown)
        raise CompressOptionsError(
            f"{keys}: not a setting of compress method '{method}' ({options.__name__}).{hint} "
            f"Valid keys: {', '.join(valid)}"
        )
    try:
        return OmegaConf.merge(OmegaConf.structured(options), values)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        where = f"compress.{section}.{exc.full_key}" if getattr(exc, "full_key", None) else f"compress.{section}"
        raise CompressOptionsError(f"{where} (compress method '{method}'): {getattr(exc, 'msg', exc)}") from exc


def register_compress_configs() -> None:
    """Idempotent; called by ``configs.schema.register_configs``."""
    from hydra.core.config_store import ConfigStore

    node = OmegaConf.structured(CompressConfig)
    # open at composition: the YAML files hold only what differs from the method's defaults, and
    # typed_options checks every key once the method (and so its options dataclass) is known
    OmegaConf.set_struct(node.options, False)
    cs = ConfigStore.instance()
    cs.store(group="compress", name="base_compress", node=node)
    experiment = OmegaConf.structured(CompressExperimentConfig)
    OmegaConf.set_struct(experiment.compress.options, False)
    cs.store(name="base_compress_experiment", node=experiment)
