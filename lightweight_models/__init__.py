"""The lightweight model zoo: shared blocks (``blocks``), model families
(``models``), one registry (``create_model``/``list_models``) that also reaches
timm and torchvision, and complexity accounting."""

from lightweight_models.registry import create_model, list_models, model_info, register_model

__all__ = ["create_model", "list_models", "model_info", "register_model"]
