"""Model compression: quantization (PTQ/QAT, low-bit, binary), pruning and
knowledge distillation. Each method is a transform of a ``torch.nn.Module``;
training loops and data stay in ``experiments`` and are passed in."""
