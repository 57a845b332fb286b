"""Run a forward pass and, when it fails, name the innermost module that raised."""

from __future__ import annotations

import torch
from torch import nn

from compression.pruning.errors import PruningError


def run_and_name_failure(model: nn.Module, example_input: torch.Tensor, what: str) -> torch.Tensor:
    """``model(example_input)`` under no_grad; an exception becomes a PruningError naming the module."""
    names = {m: n for n, m in model.named_modules()}
    stack: list[str] = []

    def pre(module: nn.Module, args: object) -> None:
        stack.append(names.get(module, type(module).__name__) or "<root>")

    def post(module: nn.Module, args: object, out: object) -> None:
        stack.pop()

    handles = [m.register_forward_pre_hook(pre) for m in model.modules()]
    handles += [m.register_forward_hook(post) for m in model.modules()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(example_input)
    except Exception as exc:
        # the innermost module still on the stack is the one whose forward raised
        where = stack[-1] if stack else "<root>"
        raise PruningError(f"{what}: forward failed in module '{where}' ({type(exc).__name__}: {exc})") from exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
