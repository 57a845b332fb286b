"""Which channels must be pruned together: Torch-Pruning's DependencyGraph plus lock rules."""

from compression.pruning.dependency.analysis import DependencyAnalysis, analyze
from compression.pruning.dependency.forward_check import run_and_name_failure
from compression.pruning.dependency.locks import locked_layers

__all__ = ["DependencyAnalysis", "analyze", "locked_layers", "run_and_name_failure"]
