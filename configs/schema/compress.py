"""Schema of the ``compress`` group and of the top-level ``compress`` experiment config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from configs.schema.experiment import ExperimentConfig


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
    weight_bits: int | None = None
    activation_bits: int | None = None
    weight_calibrator: str | None = None
    activation_calibrator: str | None = None
    per_channel: bool | None = None
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
    # settings of methods that validate their own options (pruning, distillation)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompressExperimentConfig(ExperimentConfig):
    compress: CompressConfig = field(default_factory=CompressConfig)
    # a training run directory to take the model from; null trains one first (model/train/data)
    source_run: str | None = None
    checkpoint: str = "best"


def register_compress_configs() -> None:
    """Idempotent; called by ``experiments.compress`` (the lead may fold it into ``register_configs``)."""
    cs = ConfigStore.instance()
    cs.store(group="compress", name="base_compress", node=CompressConfig)
    cs.store(name="base_compress_experiment", node=CompressExperimentConfig)
