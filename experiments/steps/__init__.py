"""Pipeline steps, one module each, registered in ``STEPS`` by the explicit import list below.

Adding a step is one module plus one name in that list (timm's models/__init__.py does the same: greppable, no
discovery magic). They live apart from the entry points so that a step is registered whenever the pipeline
runs, including in launcher worker processes that never import the entry-point module by name.
"""

from experiments.steps import compress, evaluate, export, export_qdq, measure, runtime_accuracy, source, train
from experiments.steps.base import STEPS, PipelineContext, Step

__all__ = ["STEPS", "PipelineContext", "Step", "compress", "evaluate", "export", "export_qdq", "measure",
           "runtime_accuracy", "source", "train"]
