"""QDQ ONNX export of fake-quantized models (QuantizeLinear/DequantizeLinear with integer weights)."""

from export.qdq.exporter import METADATA_KEY, QDQExportError, QDQExportReport, export_qdq

__all__ = ["METADATA_KEY", "QDQExportError", "QDQExportReport", "export_qdq"]

