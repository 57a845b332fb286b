"""Parameter and multiply-accumulate (MAC) counts.

MACs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts the
FLOPs of the matrix ops (convolutions, matmuls, attention) an actual forward
runs; one MAC is two FLOPs. Element-wise ops (activations, norms, additions)
are not counted, the usual convention of papers that report MACs.
"""

from __future__ import annotations

from types import TracebackType

from torch import nn
from torch.utils.flop_counter import FlopCounterMode

GLOBAL_KEY = "Global"


def count_params(model: nn.Module) -> int:
    """Number of parameter values; a parameter shared by several modules is counted once."""
    return sum(p.numel() for p in model.parameters())


class MacCounter:
    """Context manager counting MACs of the forward run inside it, per module.

    ``by_module`` maps a module's qualified name (``""`` for the root) to the
    MACs of everything that ran while it was executing, its submodules included.
    """

    def __init__(self, model: nn.Module) -> None:
        self._root_name = type(model).__name__
        self._mode = FlopCounterMode(display=False)
        self.total = 0
        self.by_module: dict[str, int] = {}

    def __enter__(self) -> MacCounter:
        self._mode.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._mode.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            return
        flops = {name: sum(per_op.values()) for name, per_op in self._mode.get_flop_counts().items()}
        self.total = flops.get(GLOBAL_KEY, 0) // 2
        # FlopCounterMode names modules "<RootClass>.<fqn>"; strip the root to get named_modules() keys
        prefix = self._root_name + "."
        for name, count in flops.items():
            if name == self._root_name:
                self.by_module[""] = count // 2
            elif name.startswith(prefix):
                self.by_module[name[len(prefix) :]] = count // 2
