"""Deep mutual learning: the student and a peer of the same architecture (different
initialisation) train together; the student is kept."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from compression.distillation import MutualLearning, MutualPair
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.distill_common import DistillOptions, epochs, student
from experiments.compress_methods.finetuning import finetune


@dataclass
class MutualOptions(DistillOptions):
    # peers of equal size teach each other at the unsoftened outputs (Zhang et al. use T = 1)
    temperature: float = 1.0
    # weight of each KL term
    mutual_weight: float = 1.0


def prepare(ctx: CompressContext) -> nn.Module:
    return student(ctx, ctx.options)


def _peer(model: nn.Module) -> nn.Module:
    peer = copy.deepcopy(model)
    for m in peer.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()  # mutual learning needs a differently initialised peer
    return peer


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts = ctx.options
    with torch.random.fork_rng():
        torch.manual_seed(int(ctx.cfg.train.seed) + 1)
        pair = MutualPair(model, _peer(model))
    criterion = MutualLearning(pair, opts.temperature, opts.mutual_weight)
    info = finetune(ctx, pair, epochs(ctx, opts), opts.lr, "distill", criterion=criterion)
    model.eval()
    return info


COMPRESS_METHODS.add("distill_dml", CompressMethod(prepare, run, options=MutualOptions))
