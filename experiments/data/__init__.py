"""Data sets of the workbench: ``build_data(cfg.data)`` gives train/val/test
datasets and DataLoaders for the data set an experiment config names.

Why here, in ``experiments``: data sets are chosen by an experiment config and
handed to library code as DataLoaders; models, compression, export and the
engine never import data code, so it lives with the experiments that wire
things together.

Each data set is one module in ``sets`` registering a builder in
``DATASETS``; splitting (val carved from train with ``split_seed``), size caps,
channel/size conversion, normalization and augmentation are shared.
"""

from experiments.data.build import DataBundle, build_data
from experiments.data.idx import IdxFormatError, read_idx, read_idx_pair
from experiments.data.registry import DATASETS, SourceData, register_dataset

__all__ = [
    "DATASETS",
    "DataBundle",
    "IdxFormatError",
    "SourceData",
    "build_data",
    "read_idx",
    "read_idx_pair",
    "register_dataset",
]
