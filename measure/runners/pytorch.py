"""PyTorch eager over an in-memory ``nn.Module`` or a ``torch.export`` program (``.pt2``).

What "model file" means here: the in-memory module is the real eager baseline (Python module
calls dispatching one ATen op at a time), and it is what every caller already holds right
after training or compressing, so it is accepted as is. For a file, ``.pt2`` written by
``torch.export.save`` is the format that is self-contained (graph, weights and input shapes,
no model class to import) and loads without unpickling arbitrary objects; its ``.module()``
still runs the ATen ops eagerly, one by one, without compiling. A pickled whole module needs
its class importable and an unsafe load, a state dict needs the architecture beside it, and
TorchScript is deprecated upstream, so those are not accepted. ``save_pt2`` writes one.

An in-memory module has no declared inputs: pass ``input_shape`` (its input is named
``input``, as ``export.to_onnx`` names it, so feeds are interchangeable with the other runners).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from measure.runners.base import InputSpec, Runner, model_path, resolve_shape
from measure.runners.registry import register_runner


def save_pt2(model: Any, example_input: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.export`` ``model`` at ``example_input``'s (static) shape and save it as ``.pt2``."""
    import torch

    model.eval()
    program = torch.export.export(model, (example_input,))
    torch.export.save(program, str(path))
    return Path(path)


@register_runner
class PyTorchRunner(Runner):
    name = "pytorch"
    model_kind = "torch"
    requires = "torch"

    def __init__(self, model: Any, threads: int = 1, input_shape: Sequence[int] | None = None) -> None:
        import torch

        self._torch = torch
        self.threads = threads
        # restored on close: the process-wide count is not this runner's to keep
        self._threads_before = torch.get_num_threads()
        if isinstance(model, torch.nn.Module):
            if input_shape is None:
                raise ValueError("an in-memory PyTorch module declares no input shape: pass input_shape")
            self._module = model.eval()
            self.inputs = [InputSpec("input", tuple(int(d) for d in input_shape), "float32")]
        else:
            program = torch.export.load(model_path(model, "pt2"))
            self._module = program.module()
            user_inputs = set(program.graph_signature.user_inputs)
            nodes = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user_inputs]
            self.inputs = []
            for k, node in enumerate(nodes):
                val = node.meta["val"]
                declared = [int(d) if isinstance(d, int) else None for d in val.shape]
                shape = resolve_shape(node.name, declared, input_shape if k == 0 else None)
                self.inputs.append(InputSpec(node.name, shape, str(val.dtype).removeprefix("torch.")))

    @classmethod
    def version(cls) -> str:
        import torch

        return torch.__version__

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        # torch's thread count is process-wide and other code in the process may change it
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        args = [torch.from_numpy(np.asarray(feeds[i.name])) for i in self.inputs]
        with torch.inference_mode():
            out = self._module(*args)
        outs = [out] if isinstance(out, torch.Tensor) else list(out)
        return [o.numpy() for o in outs]

    def close(self) -> None:
        self._module = None
        if self._torch.get_num_threads() != self._threads_before:
            self._torch.set_num_threads(self._threads_before)
