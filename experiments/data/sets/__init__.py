"""The data sets. Each module registers a builder in ``experiments.data.registry.DATASETS`` on import, and
this list is the one place that says which data sets exist (add one: its module and one line here)."""

from experiments.data.sets import cifar, digits, fashion_mnist, imagefolder, synthetic

__all__ = ["cifar", "digits", "fashion_mnist", "imagefolder", "synthetic"]
