"""Building blocks shared by the model families (and later by NAS and pruning).
A block is written once here and imported by every family that needs it."""

from lightweight_models.blocks.activations import get_activation
from lightweight_models.blocks.conv import ConvNormAct
from lightweight_models.blocks.se import SqueezeExcite

__all__ = ["ConvNormAct", "SqueezeExcite", "get_activation"]
