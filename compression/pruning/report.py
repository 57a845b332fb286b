"""What pruning did to a model: sparsity per layer and overall, MACs and params before/after,
and, when it was measured, engine latency next to the MAC reduction (the two disagree)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from compression.pruning.unstructured import overall_sparsity, sparsity_by_layer
from lightweight_models.complexity import profile


@dataclass
class PruningReport:
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    sparsity: float
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    latency_ms_before: float | None = None
    latency_ms_after: float | None = None

    @property
    def mac_reduction(self) -> float:
        return self.macs_before / self.macs_after if self.macs_after else float("inf")

    @property
    def speedup(self) -> float | None:
        if self.latency_ms_before is None or not self.latency_ms_after:
            return None
        return self.latency_ms_before / self.latency_ms_after

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mac_reduction": self.mac_reduction, "speedup": self.speedup}

    def to_markdown(self) -> str:
        lines = [
            "| figure | before | after |",
            "|---|---|---|",
            f"| params | {self.params_before:,} | {self.params_after:,} |",
            f"| MACs | {self.macs_before:,} | {self.macs_after:,} ({self.mac_reduction:.2f}x fewer) |",
            f"| weight sparsity | | {100 * self.sparsity:.1f}% |",
        ]
        if self.speedup is not None:
            lines.append(
                f"| engine latency (ms) | {self.latency_ms_before:.3f} | {self.latency_ms_after:.3f} "
                f"({self.speedup:.2f}x faster) |"
            )
        if self.layer_sparsity:
            lines += ["", "| layer | sparsity |", "|---|---|"]
            lines += [f"| {n} | {100 * s:.1f}% |" for n, s in self.layer_sparsity.items()]
        return "\n".join(lines)


def pruning_report(
    before: nn.Module,
    after: nn.Module,
    input_shape: Sequence[int],
    latency_ms: tuple[float, float] | None = None,
) -> PruningReport:
    """Compare an original and a pruned model at ``input_shape`` (batch included).

    MACs count dense matrix work, so unstructured zeros do not lower them (an engine without
    sparse kernels does not skip them either); structured pruning does.
    """
    p0, p1 = profile(before, input_shape), profile(after, input_shape)
    return PruningReport(
        params_before=p0.params,
        params_after=p1.params,
        macs_before=p0.macs,
        macs_after=p1.macs,
        sparsity=overall_sparsity(after),
        layer_sparsity=sparsity_by_layer(after),
        latency_ms_before=latency_ms[0] if latency_ms else None,
        latency_ms_after=latency_ms[1] if latency_ms else None,
    )
