"""Offline half of the engine: PyTorch -> ONNX export, ONNX graph optimization
passes, and the writer of the engine's own model file."""
