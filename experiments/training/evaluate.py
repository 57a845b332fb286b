"""Evaluation: top-1, top-5 (when there are at least 5 classes), loss and throughput."""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device = "cpu",
    max_batches: int | None = None,
) -> dict[str, float]:
    was_training = model.training
    model.eval()
    loss_sum, correct1, correct5, n, seconds = 0.0, 0, 0, 0, 0.0
    num_classes = None
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        x, y = x.to(device), y.to(device)
        t0 = time.perf_counter()
        logits = model(x)
        seconds += time.perf_counter() - t0
        num_classes = logits.shape[1]
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        topk = logits.topk(min(5, num_classes), dim=1).indices
        hits = topk.eq(y[:, None])
        correct1 += hits[:, 0].sum().item()
        correct5 += hits.any(dim=1).sum().item()
        n += y.numel()
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluation loader yielded no samples")
    out = {
        "top1": 100.0 * correct1 / n,
        "loss": loss_sum / n,
        "samples": float(n),
        "throughput": n / seconds if seconds > 0 else float("inf"),
    }
    if num_classes is not None and num_classes >= 5:
        out["top5"] = 100.0 * correct5 / n
    return out
