"""Offline half of the engine: PyTorch -> ONNX export, ONNX graph optimization
passes, and the writer of the engine's own model file.

The Python API is ``export.to_onnx`` and ``export.convert_model``; the command line is
``python -m export.convert`` (a module of that name, which is why the function is not
called ``convert``: importing the module would shadow it). Bad input to the converter
raises ``export.ModelFormatError`` (its subclass ``UnsupportedOpsError`` for ops the engine
lacks); ``export.Limits`` caps what a model may make the converter read or allocate.
"""

from __future__ import annotations

from typing import Any

from export.converter import ConversionReport
from export.converter import convert as convert_model
from export.engine_file import EngineFileError, EngineFileSummary, load_engine_file_summary
from export.errors import ModelFormatError
from export.support import EngineUnavailableError, UnsupportedOpsError
from export.validate import Limits

__all__ = [
    "ConversionReport",
    "EngineFileError",
    "EngineFileSummary",
    "EngineUnavailableError",
    "ExportVerificationError",
    "Limits",
    "ModelFormatError",
    "UnsupportedOpsError",
    "convert_model",
    "load_engine_file_summary",
    "to_onnx",
]

_TORCH_SIDE = {"to_onnx", "ExportVerificationError"}


def __getattr__(name: str) -> Any:
    # the PyTorch exporter pulls in torch (seconds to import); converting an ONNX file does not need it
    if name in _TORCH_SIDE:
        from export import onnx_export

        return getattr(onnx_export, name)
    raise AttributeError(f"module 'export' has no attribute '{name}'")
