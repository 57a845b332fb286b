"""The kinds of run a report knows, recognised by the keys of their metrics.json.

Each kind says which metrics identify it, which it needs, which it keeps, the columns of its table and
the settings (from config.yaml) that tell the rows of a sweep apart. A new kind of run is one more
``ROW_KINDS.add`` rather than another branch in the reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from configs.registry import Registry
from experiments.reporting import settings as S
from experiments.reporting.errors import RunTableError
from experiments.reporting.table_format import MISSING, Column, fmt


@dataclass(frozen=True)
class RowKind:
    name: str
    title: str
    order: int  # position of the kind's table in the report
    matches: Callable[[Mapping[str, Any]], bool]
    required: tuple[str, ...]
    kept: tuple[str, ...]  # metrics carried into the row (and its JSON), in this order
    columns: tuple[Column, ...]
    sort_key: Callable[[Any], tuple]
    settings: Callable[[DictConfig], dict[str, Any]] | None = None

    def values(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        return {k: metrics.get(k) for k in self.kept}


ROW_KINDS: Registry[RowKind] = Registry("row kind")


def _has_any(*keys: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda m: "method" in m and any(k in m for k in keys)


def _has_prefix(prefix: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda m: "method" in m and any(k.startswith(prefix) for k in m)


def kind_of(metrics: Mapping[str, Any], where: Path | str) -> RowKind:
    """The one kind whose signature the metrics carry; none or several is an error naming the file."""
    found = [ROW_KINDS.get(n) for n in ROW_KINDS if ROW_KINDS.get(n).matches(metrics)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise RunTableError(
            f"{where}: not a run the report knows (kinds: {', '.join(ROW_KINDS.names())}); "
            "training runs have test_top1, compress runs a method plus its method's metrics"
        )
    raise RunTableError(f"{where} matches several row kinds: {', '.join(k.name for k in found)}")


def _diff(a: str, b: str) -> Callable[[Any], str]:
    def cell(row: Any) -> str:
        x, y = row.get(a), row.get(b)
        return MISSING if x is None or y is None else f"{x - y:+.2f}"

    return cell


def _text(key: str) -> Callable[[Any], str]:
    return lambda row: MISSING if row.get(key) is None else str(row.get(key))


def _before_after(before: str, after: str, scale: float, spec: str) -> Callable[[Any], str]:
    def cell(row: Any) -> str:
        b, a = row.get(before), row.get(after)
        return MISSING if b is None or a is None else f"{b * scale:{spec}} -> {a * scale:{spec}}"

    return cell


_MODEL = Column("model", _text("model"), numeric=False)
_METHOD = Column("method", _text("method"), numeric=False)
_SETTINGS = Column("settings", lambda r: r.settings_text(), numeric=False)
_RUN = Column("run", lambda r: f"`{r.run}`", numeric=False)
_FP32 = Column("fp32 top-1 (%)", fmt("fp32_top1", ".2f"))
_TOP1 = Column("top-1 (%)", fmt("top1", ".2f"))
_DELTA = Column("change (pp)", _diff("top1", "fp32_top1"))
_COMPRESS_REQUIRED = ("model", "method", "fp32_top1", "top1")


def _compress_sort(row: Any) -> tuple:
    return (row.get("model"), row.get("method"), row.settings_text())


ROW_KINDS.add("train", RowKind(
    name="train",
    title="training runs",
    order=0,
    # compress runs also carry model/top-1 figures but always name their method
    matches=lambda m: "method" not in m and "test_top1" in m,
    required=("model", "params", "macs", "peak_activation_bytes", "test_top1", "train_time_s"),
    kept=("model", "data", "params", "macs", "peak_activation_bytes", "test_top1", "train_time_s"),
    columns=(
        _MODEL,
        Column("data", lambda r: r.get("data") or MISSING, numeric=False),
        Column("params (M)", fmt("params", ".3f", 1e-6)),
        Column("MACs (M)", fmt("macs", ".2f", 1e-6)),
        Column("peak act. (KiB)", fmt("peak_activation_bytes", ".1f", 1 / 1024)),
        Column("test top-1 (%)", fmt("test_top1", ".2f")),
        Column("train time (s)", fmt("train_time_s", ".1f")),
        _RUN,
    ),
    sort_key=lambda r: (r.get("model"),),
))

ROW_KINDS.add("quantization", RowKind(
    name="quantization",
    title="quantization runs",
    order=1,
    # fp32_finetune_epochs: the fine-tuning-only control of QAT rows
    matches=_has_any("quantized_layers", "binarized_layers", "onnx_qdq_bytes", "fp32_finetune_epochs"),
    required=(*_COMPRESS_REQUIRED, "weight_bytes", "size_ratio"),
    kept=("model", "data", "method", "fp32_top1", "top1", "weight_bytes", "size_ratio", "onnx_top1",
          "engine_top1", "engine_onnx_same_top1", "onnx_fp32_bytes", "onnx_qdq_bytes", "onnx_size_ratio"),
    columns=(
        _MODEL, _METHOD, _SETTINGS, _FP32, _TOP1, _DELTA,
        Column("weights (KiB)", fmt("weight_bytes", ".1f", 1 / 1024)),
        Column("size (% fp32)", fmt("size_ratio", ".1f", 100.0)),
        Column("ORT top-1 (%)", fmt("onnx_top1", ".2f")),
        Column("ORT - torch (pp)", _diff("onnx_top1", "top1")),
        Column("engine int8 top-1 (%)", fmt("engine_top1", ".2f")),
        Column("engine - torch (pp)", _diff("engine_top1", "top1")),
        Column("QDQ file (KiB)", fmt("onnx_qdq_bytes", ".1f", 1 / 1024)),
        Column("QDQ file (% fp32)", fmt("onnx_size_ratio", ".1f", 100.0)),
        _RUN,
    ),
    sort_key=_compress_sort,
    settings=S.read_settings(S.QUANTIZATION),
))

ROW_KINDS.add("pruning", RowKind(
    name="pruning",
    title="pruning runs",
    order=2,
    # structured pruning and slimming report MACs before/after; unstructured pruning its sparsity
    matches=_has_any("macs_before", "sparsity"),
    required=_COMPRESS_REQUIRED,
    kept=("model", "data", "method", "fp32_top1", "top1", "params_before", "params_after", "macs_before",
          "macs_after", "mac_reduction", "latency_ms_before", "latency_ms_after", "speedup", "sparsity"),
    columns=(
        _MODEL, _METHOD, _SETTINGS, _FP32, _TOP1, _DELTA,
        Column("params (M)", _before_after("params_before", "params_after", 1e-6, ".3f")),
        Column("MACs (M)", _before_after("macs_before", "macs_after", 1e-6, ".2f")),
        Column("MAC reduction (x)", fmt("mac_reduction", ".2f")),
        Column("latency (ms)", _before_after("latency_ms_before", "latency_ms_after", 1.0, ".3f")),
        Column("speedup (x)", fmt("speedup", ".2f")),
        Column("sparsity (%)", fmt("sparsity", ".1f", 100.0)),
        _RUN,
    ),
    sort_key=_compress_sort,
    settings=S.read_settings(S.PRUNING),
))

ROW_KINDS.add("distillation", RowKind(
    name="distillation",
    title="distillation runs (fp32 top-1: the same student trained without distillation)",
    order=3,
    matches=_has_prefix("distill_"),
    required=_COMPRESS_REQUIRED,
    kept=("model", "data", "method", "fp32_top1", "top1", "distill_epochs", "distill_best_val_top1",
          "distill_time_s"),
    columns=(
        _MODEL, _METHOD, _SETTINGS,
        Column("top-1 with KD (%)", fmt("top1", ".2f")),
        Column("top-1 without KD (%)", fmt("fp32_top1", ".2f")),
        Column("gain (pp)", _diff("top1", "fp32_top1")),
        Column("epochs", fmt("distill_epochs", "d")),
        Column("distill time (s)", fmt("distill_time_s", ".1f")),
        _RUN,
    ),
    sort_key=_compress_sort,
    settings=S.read_settings(S.DISTILLATION),
))


def kinds_in_order() -> Sequence[RowKind]:
    return sorted((ROW_KINDS.get(n) for n in ROW_KINDS), key=lambda k: k.order)
