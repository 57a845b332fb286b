"""Compress methods of ``python -m experiments.compress``, registered by name in ``COMPRESS_METHODS``.

Importing this package registers every method: the list below is the one place that says which methods
exist (add a method: its module, which registers it, and one line here). Helper modules shared by several
methods (``finetuning``, ``prune_common``, ``distill_common``) are imported by the methods that use them,
not listed here.
"""

from experiments.compress_methods import (
    binary,
    distill_dml,
    distill_feature,
    distill_logit,
    finetune,
    mixed,
    prune_structured,
    prune_unstructured,
    ptq,
    qat,
    slimming,
)
from experiments.compress_methods.base import (
    COMPRESS_METHODS,
    CompressContext,
    CompressMethod,
    method_options,
    validate_compress,
)

__all__ = [
    "COMPRESS_METHODS",
    "CompressContext",
    "CompressMethod",
    "binary",
    "distill_dml",
    "distill_feature",
    "distill_logit",
    "finetune",
    "method_options",
    "mixed",
    "prune_structured",
    "prune_unstructured",
    "ptq",
    "qat",
    "slimming",
    "validate_compress",
]
