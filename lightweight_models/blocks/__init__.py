"""Building blocks shared by the model families (and later by NAS and pruning).
A block is written once here and imported by every family that needs it."""

from lightweight_models.blocks.activations import get_activation
from lightweight_models.blocks.attention import LayerScale, Mlp, MultiHeadSelfAttention, TransformerEncoderLayer
from lightweight_models.blocks.conv import ConvNormAct
from lightweight_models.blocks.dsconv import DepthwiseSeparableConv
from lightweight_models.blocks.efficientformer import (
    GridToTokens,
    LayerScale2d,
    Meta3D,
    Meta4D,
    PoolMixer,
    RelativePositionBias,
)
from lightweight_models.blocks.fire import Fire
from lightweight_models.blocks.ghost import GhostBottleneck, GhostModule
from lightweight_models.blocks.inverted_residual import InvertedResidual
from lightweight_models.blocks.mobilevit import MobileViTBlock, fold_patches, unfold_patches
from lightweight_models.blocks.se import SqueezeExcite
from lightweight_models.blocks.shuffle import ChannelShuffle, channel_shuffle
from lightweight_models.blocks.shuffle_choice import ShuffleChoiceUnit
from lightweight_models.blocks.uib import UniversalInvertedBottleneck

__all__ = ["ConvNormAct", "SqueezeExcite", "get_activation"]
__all__ += ["ChannelShuffle", "channel_shuffle"]
__all__ += ["ShuffleChoiceUnit"]
__all__ += ["DepthwiseSeparableConv", "GhostBottleneck", "GhostModule", "InvertedResidual"]
__all__ += ["UniversalInvertedBottleneck"]
__all__ += ["Fire"]
__all__ += ["LayerScale", "Mlp", "MultiHeadSelfAttention", "TransformerEncoderLayer"]
__all__ += ["MobileViTBlock", "fold_patches", "unfold_patches"]
__all__ += ["GridToTokens", "LayerScale2d", "Meta3D", "Meta4D", "PoolMixer", "RelativePositionBias"]
