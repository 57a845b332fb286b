"""Training-loop callbacks of QAT (``experiments.training.fit`` calls ``on_epoch_start``)."""

from __future__ import annotations

from torch import nn

from compression.quantization.qat.conv_bn import QuantizedConvBn


class FreezeBatchNorm:
    """Freeze BN statistics (folded-BN QAT) from epoch ``freeze_epoch`` on; None never freezes."""

    def __init__(self, freeze_epoch: int | None) -> None:
        if freeze_epoch is not None and freeze_epoch < 0:
            raise ValueError(f"bn_freeze_epoch must be >= 0 or null, got {freeze_epoch}")
        self.freeze_epoch = freeze_epoch

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        if self.freeze_epoch is not None and epoch >= self.freeze_epoch:
            for m in model.modules():
                if isinstance(m, QuantizedConvBn):
                    m.freeze_bn_stats()
