"""Complexity accounting: params, MACs, peak activation memory and memory access
cost of any model, with per-layer and per-block tables (``profile``)."""

from lightweight_models.complexity.access_cost import ACCESS_COST_RULES, memory_access_cost
from lightweight_models.complexity.counting import MacCounter, count_params
from lightweight_models.complexity.memory import peak_activation_bytes
from lightweight_models.complexity.profiler import profile
from lightweight_models.complexity.report import BlockRow, ComplexityReport, LayerRow

__all__ = [
    "ACCESS_COST_RULES",
    "BlockRow",
    "ComplexityReport",
    "LayerRow",
    "MacCounter",
    "count_params",
    "memory_access_cost",
    "peak_activation_bytes",
    "profile",
]
