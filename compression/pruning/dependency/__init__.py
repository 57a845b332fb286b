"""Which channels must be pruned together: Torch-Pruning's DependencyGraph plus lock rules."""

from compression.pruning.dependency.analysis import DependencyAnalysis, analyze
from compression.pruning.dependency.forward_check import run_and_name_failure
from compression.pruning.dependency.locks import BLOCK_LOCKS, locked_layers

__all__ = ["BLOCK_LOCKS", "DependencyAnalysis", "analyze", "locked_layers", "run_and_name_failure"]
