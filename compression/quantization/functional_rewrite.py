"""Replace functional ops (add, mul, cat, matmul, softmax) by ``QuantizedFunctional`` modules with torch.fx.

torch.fx cannot trace every model (MobileViT's data-dependent padding,
EfficientFormer's token reshapes). The rewrite therefore tries the whole model
first and, where tracing fails, each child on its own, recursively: everything
traceable below the untraceable part still gets its quantization points. What
stays untraced is reported by name; its functional ops remain in float, and a
model author can quantize them by using ``QAdd``/``QMul``/... explicitly.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from compression.quantization.modules import QAdd, QCat, QMatMul, QMul, QSoftmax, QuantizedFunctional
from configs.registry import Registry

# builder(node) -> (module, tensor args) or None when the node is not a tensor-tensor op
Builder = Callable[[fx.Node], "tuple[nn.Module, tuple[fx.Node, ...]] | None"]
FUNCTIONAL_OPS: Registry[Builder] = Registry("functional op")


def _is_tensor(arg: Any) -> bool:
    return isinstance(arg, fx.Node) and "tensor_meta" in arg.meta


def _binary(cls: type[QuantizedFunctional]) -> Builder:
    def build(node: fx.Node) -> tuple[nn.Module, tuple[fx.Node, ...]] | None:
        if len(node.args) != 2 or node.kwargs or not all(_is_tensor(a) for a in node.args):
            return None  # a scalar operand (x * 0.5) or alpha= keeps the float op
        return cls(), tuple(node.args)

    return build


def _cat(node: fx.Node) -> tuple[nn.Module, tuple[fx.Node, ...]] | None:
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if not isinstance(tensors, (list, tuple)) or not all(_is_tensor(t) for t in tensors) or not isinstance(dim, int):
        return None
    return QCat(len(tensors), dim), tuple(tensors)


def _softmax(node: fx.Node) -> tuple[nn.Module, tuple[fx.Node, ...]] | None:
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    extra = set(node.kwargs) - {"dim"}
    if not _is_tensor(node.args[0]) or not isinstance(dim, int) or extra:
        return None
    return QSoftmax(dim), (node.args[0],)


_FUNCTIONS = {
    "operator.add": (operator.add, _binary(QAdd)),
    "operator.iadd": (operator.iadd, _binary(QAdd)),
    "torch.add": (torch.add, _binary(QAdd)),
    "operator.mul": (operator.mul, _binary(QMul)),
    "operator.imul": (operator.imul, _binary(QMul)),
    "torch.mul": (torch.mul, _binary(QMul)),
    "operator.matmul": (operator.matmul, _binary(QMatMul)),
    "torch.matmul": (torch.matmul, _binary(QMatMul)),
    "torch.cat": (torch.cat, _cat),
    "torch.softmax": (torch.softmax, _softmax),
    "F.softmax": (F.softmax, _softmax),
}
for _name, (_target, _builder) in _FUNCTIONS.items():
    FUNCTIONAL_OPS.add(_name, _builder, target=_target)
for _method, _builder in (("add", _binary(QAdd)), ("mul", _binary(QMul)), ("matmul", _binary(QMatMul)),
                          ("softmax", _softmax)):
    FUNCTIONAL_OPS.add(f"Tensor.{_method}", _builder, target=_method)


def _builder_for(node: fx.Node) -> Builder | None:
    if node.op == "call_function":
        for name in FUNCTIONAL_OPS:
            if not name.startswith("Tensor.") and FUNCTIONAL_OPS.meta(name)["target"] is node.target:
                return FUNCTIONAL_OPS.get(name)
    if node.op == "call_method" and f"Tensor.{node.target}" in FUNCTIONAL_OPS:
        return FUNCTIONAL_OPS.get(f"Tensor.{node.target}")
    return None


@dataclass
class RewriteReport:
    rewritten: list[str] = field(default_factory=list)
    # module name -> why torch.fx could not trace it (its own functional ops stay float)
    untraced: dict[str, str] = field(default_factory=dict)


def _rewrite_graph(gm: fx.GraphModule, prefix: str, report: RewriteReport) -> int:
    count = 0
    for node in list(gm.graph.nodes):
        builder = _builder_for(node)
        built = builder(node) if builder is not None else None
        if built is None:
            continue
        module, args = built
        name = f"q_{node.name}"
        gm.add_submodule(name, module)
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, args)
        new.meta = dict(node.meta)  # later ops test their operands' tensor_meta
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        report.rewritten.append(f"{prefix}{name}")
        count += 1
    if count:
        _mark_probability_inputs(gm)
        gm.graph.lint()
        gm.recompile()
    return count


# modules that hand a tensor on unchanged at inference
_PASS_THROUGH = (nn.Dropout, nn.Identity)


def _from_softmax(gm: fx.GraphModule, arg: Any) -> bool:
    while isinstance(arg, fx.Node) and arg.op == "call_module":
        module = gm.get_submodule(str(arg.target))
        if isinstance(module, QSoftmax):
            return True
        if not isinstance(module, _PASS_THROUGH) or not arg.args:
            return False
        arg = arg.args[0]
    return False


def _mark_probability_inputs(gm: fx.GraphModule) -> None:
    """Tell each quantized op which of its inputs are softmax outputs (they get the fixed probability grid)."""
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        module = gm.get_submodule(str(node.target))
        if isinstance(module, QuantizedFunctional):
            module.probability_inputs = tuple(i for i, a in enumerate(node.args) if _from_softmax(gm, a))


def _capture_inputs(model: nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> dict[str, tuple[torch.Tensor, ...]]:
    """First positional tensor arguments of every module called with tensors only."""
    captured: dict[str, tuple[torch.Tensor, ...]] = {}
    handles = []
    for name, module in model.named_modules():
        def hook(mod: nn.Module, args: tuple, kwargs: dict, name: str = name) -> None:
            if name not in captured and not kwargs and args and all(isinstance(a, torch.Tensor) for a in args):
                captured[name] = tuple(a.detach() for a in args)

        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for h in handles:
            h.remove()
    return captured


def _is_torch_leaf(module: nn.Module) -> bool:
    return type(module).__module__.startswith("torch.nn") and not isinstance(
        module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    )


def rewrite_functional_ops(
    model: nn.Module, example_inputs: tuple[torch.Tensor, ...]
) -> tuple[nn.Module, RewriteReport]:
    """Return the model (possibly a GraphModule) with functional ops replaced, and what was done."""
    report = RewriteReport()
    was_training = model.training
    model.eval()
    captured = _capture_inputs(model, example_inputs)

    def visit(name: str, module: nn.Module) -> nn.Module:
        if _is_torch_leaf(module) or isinstance(module, QuantizedFunctional):
            return module
        if name in captured:
            try:
                gm = fx.symbolic_trace(module)
                ShapeProp(gm).propagate(*captured[name])
            except Exception as exc:  # fx raises many types (TraceError, TypeError, ...) for untraceable code
                report.untraced[name or "<model>"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            else:
                return gm if _rewrite_graph(gm, f"{name}." if name else "", report) else module
        for child_name, child in list(module.named_children()):
            new = visit(f"{name}.{child_name}" if name else child_name, child)
            if new is not child:
                setattr(module, child_name, new)
        return module

    result = visit("", model)
    result.train(was_training)
    return result, report
