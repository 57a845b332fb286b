"""fp32 fine-tuning with the QAT schedule (``compress.qat.epochs`` / ``lr``), nothing compressed: the control
that separates what QAT recovers from what the extra training alone adds to a short-schedule source model."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from configs.schema.compress import QATConfig
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.qat import quantized_finetune


def prepare(ctx: CompressContext) -> nn.Module:
    return copy.deepcopy(ctx.fp32_model)


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    qat: QATConfig = ctx.options
    # the report files this row with the quantization runs it is the control of
    return {"fp32_finetune_epochs": qat.epochs, **quantized_finetune(ctx, model, qat.epochs, qat.lr, "finetune")}


COMPRESS_METHODS.add("finetune", CompressMethod(prepare, run, options=QATConfig))
