"""Model families. Each module registers its models on import, and this list is the one place that says
which families exist (add a family: its module and one line here)."""

from lightweight_models.models import (
    baseline,
    efficientformer,
    efficientnet,
    ghostnet,
    mobilenetv1,
    mobilenetv2,
    mobilenetv3,
    mobilenetv4,
    mobilevit,
    shufflenetv1,
    shufflenetv2,
    squeezenet,
)

__all__ = [
    "baseline",
    "efficientformer",
    "efficientnet",
    "ghostnet",
    "mobilenetv1",
    "mobilenetv2",
    "mobilenetv3",
    "mobilenetv4",
    "mobilevit",
    "shufflenetv1",
    "shufflenetv2",
    "squeezenet",
]
