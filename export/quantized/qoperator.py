"""QOperator models -> QDQ form: each quantized operator becomes DequantizeLinear -> float op -> QuantizeLinear.

ONNX Runtime's QOperator format (``QuantFormat.QOperator``) writes QLinearConv / QLinearMatMul (standard ONNX)
and ``com.microsoft`` contrib ops (QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QGemm,
QLinearConcat, QLinearSigmoid, QLinearLeakyRelu). Written back as the QDQ group each one stands for, the model
is plain ONNX: onnx.checker, the opset converter and shape inference handle it, and the ``qdq_folding`` pass
folds both formats into the same engine ops. An integer bias is read through a DequantizeLinear on the grid
``x_scale * w_scale`` (float32, as ONNX Runtime computes it), which the folding pass recognizes bit for bit.

ORT's fused dynamic quantization (``DynamicQuantizeMatMul``, ``MatMulIntegerToFloat``, in a model saved after
its extended graph optimizations) becomes the DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul [-> Add]
chain that ``quantize_dynamic`` writes, which ``dynamic_quant_fusion`` folds into one engine op.

Runs on the validated ModelProto (a copy), before onnx.checker.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from export.errors import ModelFormatError, node_label
from export.quantized import QUANTIZATION_KIND
from export.quantized.contrib import CONTRIB_OPS, MS_DOMAIN

DEFAULT = ("", "ai.onnx")
STANDARD = ("QLinearConv", "QLinearMatMul")


def needs_lowering(model: onnx.ModelProto) -> bool:
    return any((n.domain in DEFAULT and n.op_type in STANDARD) or (n.domain == MS_DOMAIN and n.op_type in CONTRIB_OPS)
               for n in model.graph.node)


class _Lowering:
    def __init__(self, model: onnx.ModelProto, source: str) -> None:
        self.model, self.g, self.source = model, model.graph, source
        self.opset = next((o.version for o in model.opset_import if o.domain in DEFAULT), 0)
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in self.g.initializer}
        for n in self.g.node:
            if n.op_type == "Constant" and n.domain in DEFAULT and n.attribute and n.attribute[0].name == "value":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.taken = {v for n in self.g.node for v in [*n.input, *n.output, n.name]} | set(self.consts) | {
            i.name for i in self.g.input}
        self.new_inits: list[onnx.TensorProto] = []

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def fail(self, node: onnx.NodeProto, index: int, problem: str) -> ModelFormatError:
        return ModelFormatError(problem, kind=QUANTIZATION_KIND, where=node_label(node.name, node.op_type, index),
                                source=self.source)

    def const(self, node: onnx.NodeProto, index: int, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            raise self.fail(node, index, f"{what} '{name}' is not a constant; the engine's integer ops need "
                            "constant scales and zero points")
        return self.consts[name]

    def add_init(self, base: str, array: np.ndarray) -> str:
        name = self.fresh(base)
        self.new_inits.append(numpy_helper.from_array(array, name))
        self.consts[name] = array
        return name

    def scale_1d(self, node: onnx.NodeProto, index: int, name: str, what: str) -> tuple[str, bool]:
        """The scale as DequantizeLinear wants it: a scalar per tensor, 1-D per axis; and whether per axis."""
        scale = self.const(node, index, name, what)
        if scale.ndim > 1:
            raise self.fail(node, index, f"{what} '{name}' has shape {list(scale.shape)}; expected a scalar or 1-D")
        if scale.size == 1 and scale.ndim == 1:
            zero_d = self.add_init(f"{name}_scalar", scale.reshape(()))
            return zero_d, False
        return name, scale.ndim == 1

    def zp_like_scale(self, node: onnx.NodeProto, index: int, zp: str, per_axis: bool) -> str:
        if not zp or per_axis:
            return zp
        arr = self.const(node, index, zp, "zero point")
        return self.add_init(f"{zp}_scalar", arr.reshape(())) if arr.ndim == 1 and arr.size == 1 else zp

    # -- node builders --
    def dq(self, node, index, x: str, scale: str, zp: str, axis: int | None, out_base: str) -> tuple[list, str]:
        scale, per_axis = self.scale_1d(node, index, scale, "scale")
        zp = self.zp_like_scale(node, index, zp, per_axis)
        out = self.fresh(out_base)
        if per_axis and self.opset < 13:
            raise self.fail(node, index, f"is quantized per channel at ai.onnx opset {self.opset}; per-axis "
                            "DequantizeLinear needs opset 13: convert the model to opset 13 or later first")
        attrs = {"axis": axis} if per_axis and axis is not None else {}
        ins = [x, scale] + ([zp] if zp else [])
        return [helper.make_node("DequantizeLinear", ins, [out], name=self.fresh(f"{node.name or node.op_type}/dq"),
                                 **attrs)], out

    def q(self, node, index, y: str, scale: str, zp: str, out: str) -> list:
        scale, per_axis = self.scale_1d(node, index, scale, "y_scale")
        if per_axis:
            raise self.fail(node, index, f"output scale '{scale}' is per axis; activations are quantized per tensor")
        zp = self.zp_like_scale(node, index, zp, False)
        return [helper.make_node("QuantizeLinear", [y, scale] + ([zp] if zp else []), [out],
                                 name=self.fresh(f"{node.name or node.op_type}/q"))]

    def bias_dq(self, node, index, bias: str, x_scale: str, w_scale: str, out_base: str) -> tuple[list, str]:
        """DequantizeLinear of an int32 bias on the grid float32(x_scale) * float32(w_scale)."""
        xs = self.const(node, index, x_scale, "scale")
        ws = self.const(node, index, w_scale, "scale")
        if xs.size != 1 or xs.dtype != np.float32 or ws.dtype != np.float32 or ws.ndim > 1:
            raise self.fail(node, index, f"scales '{x_scale}' {xs.dtype}{list(xs.shape)} and '{w_scale}' "
                            f"{ws.dtype}{list(ws.shape)}: the input scale must be a float32 scalar, the weight "
                            "scale float32, scalar or 1-D")
        grid = (xs.reshape(()) * ws.reshape(-1)).astype(np.float32)
        b = self.const(node, index, bias, "bias") if bias in self.consts else None
        if b is not None and b.dtype != np.int32:
            raise self.fail(node, index, f"bias '{bias}' is {b.dtype}; an integer op's bias is int32")
        per_axis = grid.size > 1
        if per_axis and self.opset < 13:
            raise self.fail(node, index, f"is quantized per channel at ai.onnx opset {self.opset}; per-axis "
                            "DequantizeLinear needs opset 13: convert the model to opset 13 or later first")
        scale = self.add_init(f"{bias}_scale", grid if per_axis else grid.reshape(()))
        out = self.fresh(out_base)
        return [helper.make_node("DequantizeLinear", [bias, scale], [out], name=self.fresh(f"{node.name}/dq_bias"),
                                 **({"axis": 0} if per_axis else {}))], out

    def lower(self, node: onnx.NodeProto, index: int) -> list[onnx.NodeProto]:
        op, ins, name = node.op_type, list(node.input), node.name or f"{node.op_type}_{index}"
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        out = node.output[0]
        new: list[onnx.NodeProto] = []

        def dq(k: int, axis: int | None = None, base: str = "x") -> str:
            zp = ins[k + 2] if len(ins) > k + 2 else ""
            nodes, value = self.dq(node, index, ins[k], ins[k + 1], zp, axis, f"{name}/{base}")
            new.extend(nodes)
            return value

        def float_op(op_type: str, inputs: list[str], **kw) -> str:
            y = self.fresh(f"{name}/y")
            new.append(helper.make_node(op_type, inputs, [y], name=name, **kw))  # the lowered node's name
            return y

        if op == "QLinearConv":
            x, w = dq(0), dq(3, axis=0, base="w")
            inputs = [x, w]
            if len(ins) > 8 and ins[8]:
                nodes, b = self.bias_dq(node, index, ins[8], ins[1], ins[4], f"{name}/bias")
                new.extend(nodes)
                inputs.append(b)
            y = float_op("Conv", inputs, **attrs)
            new += self.q(node, index, y, ins[6], ins[7], out)
        elif op == "QLinearMatMul":
            b_rank = self._rank(ins[3])
            x, w = dq(0), dq(3, axis=(b_rank - 1) if b_rank else 1, base="w")
            new += self.q(node, index, float_op("MatMul", [x, w]), ins[6], ins[7], out)
        elif op == "QGemm":
            if float(attrs.get("alpha", 1.0)) != 1.0:
                raise self.fail(node, index, f"attribute 'alpha' is {attrs['alpha']}; only QGemm with alpha = 1 is "
                                "supported")
            trans_b = int(attrs.get("transB", 0))
            x, w = dq(0), dq(3, axis=0 if trans_b else 1, base="w")
            inputs = [x, w]
            if len(ins) > 6 and ins[6]:
                nodes, b = self.bias_dq(node, index, ins[6], ins[1], ins[4], f"{name}/bias")
                new.extend(nodes)
                inputs.append(b)
            gemm_attrs = {"transA": int(attrs.get("transA", 0)), "transB": trans_b}
            if len(ins) > 7 and ins[7]:
                y = float_op("Gemm", inputs, **gemm_attrs)
                new += self.q(node, index, y, ins[7], ins[8] if len(ins) > 8 else "", out)
            else:  # a float output
                new.append(helper.make_node("Gemm", inputs, [out], name=name, **gemm_attrs))
        elif op in ("QLinearAdd", "QLinearMul"):
            a = dq(0, base="a")
            b_zp = ins[5] if len(ins) > 5 else ""
            nodes, b = self.dq(node, index, ins[3], ins[4], b_zp, None, f"{name}/b")
            new.extend(nodes)
            y = float_op(op.removeprefix("QLinear"), [a, b])
            out_zp = ins[7] if len(ins) > 7 and ins[7] else self._zero_like(ins[2] or b_zp, f"{name}/y_zero_point")
            new += self.q(node, index, y, ins[6], out_zp, out)
        elif op in ("QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearSigmoid", "QLinearLeakyRelu"):
            if attrs.pop("channels_last", 0):
                raise self.fail(node, index, "attribute 'channels_last' = 1 is not supported (NCHW only)")
            x = dq(0)
            float_type = {"QLinearGlobalAveragePool": "GlobalAveragePool", "QLinearAveragePool": "AveragePool",
                          "QLinearSigmoid": "Sigmoid", "QLinearLeakyRelu": "LeakyRelu"}[op]
            y = float_op(float_type, [x], **attrs)
            y_zp = ins[4] if len(ins) > 4 and ins[4] else self._zero_like(ins[2], f"{name}/y_zero_point")
            new += self.q(node, index, y, ins[3], y_zp, out)
        elif op == "QLinearConcat":
            xs = []
            for k in range(2, len(ins), 3):
                nodes, v = self.dq(node, index, ins[k], ins[k + 1], ins[k + 2], None, f"{name}/x{(k - 2) // 3}")
                new.extend(nodes)
                xs.append(v)
            new += self.q(node, index, float_op("Concat", xs, axis=attrs["axis"]), ins[0], ins[1], out)
        elif op in ("DynamicQuantizeMatMul", "MatMulIntegerToFloat"):
            new += self.dynamic_chain(node, index, name, ins, out)
        else:  # pragma: no cover - needs_lowering / the caller filter the op types
            raise AssertionError(op)
        return new

    def dynamic_chain(self, node: onnx.NodeProto, index: int, name: str, ins: list[str],
                      out: str) -> list[onnx.NodeProto]:
        """ORT's fused dynamic MatMul as the chain quantize_dynamic writes (what dynamic_quant_fusion folds).

        DynamicQuantizeMatMul(A, B, b_scale, b_zp, bias): A float, quantized at run time.
        MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zp, b_zp, bias): A already quantized.
        Both: float(MatMulInteger(A_q, B, a_zp, b_zp)) * (a_scale * b_scale) [+ bias].
        """
        def at(k: int) -> str:
            return ins[k] if len(ins) > k else ""

        new: list[onnx.NodeProto] = []
        if node.op_type == "DynamicQuantizeMatMul":
            a_q, a_scale, a_zp = self.fresh(f"{name}/a_q"), self.fresh(f"{name}/a_scale"), self.fresh(f"{name}/a_zp")
            new.append(helper.make_node("DynamicQuantizeLinear", [ins[0]], [a_q, a_scale, a_zp],
                                        name=self.fresh(f"{name}/dql")))
            b_scale, b_zp, bias = ins[2], at(3), at(4)
        else:
            a_q, a_scale, b_scale, a_zp, b_zp, bias = ins[0], ins[2], ins[3], at(4), at(5), at(6)
        mmi_ins = [a_q, ins[1], a_zp, b_zp]
        while mmi_ins and not mmi_ins[-1]:
            mmi_ins.pop()
        acc, acc_f, scale = self.fresh(f"{name}/acc"), self.fresh(f"{name}/acc_f"), self.fresh(f"{name}/scale")
        y = self.fresh(f"{name}/y") if bias else out
        new += [helper.make_node("Mul", [a_scale, b_scale], [scale], name=self.fresh(f"{name}/scale_mul")),
                helper.make_node("MatMulInteger", mmi_ins, [acc], name=name),
                helper.make_node("Cast", [acc], [acc_f], name=self.fresh(f"{name}/cast"), to=onnx.TensorProto.FLOAT),
                helper.make_node("Mul", [acc_f, scale], [y], name=self.fresh(f"{name}/mul"))]
        if bias:
            new.append(helper.make_node("Add", [y, bias], [out], name=self.fresh(f"{name}/add_bias")))
        return new

    def _rank(self, name: str) -> int | None:
        if name in self.consts:
            return self.consts[name].ndim
        return None

    def _zero_like(self, zp: str, base: str) -> str:
        """An explicit zero point of the type of ``zp`` (the type an omitted output zero point takes)."""
        dtype = self.consts[zp].dtype if zp and zp in self.consts else np.dtype(np.uint8)
        return self.add_init(base, np.zeros((), dtype))

    def run(self) -> int:
        nodes: list[onnx.NodeProto] = []
        lowered = 0
        for index, node in enumerate(self.g.node):
            if (node.domain in DEFAULT and node.op_type in STANDARD) or (
                    node.domain == MS_DOMAIN and node.op_type in CONTRIB_OPS):
                nodes += self.lower(node, index)
                lowered += 1
            else:
                nodes.append(node)
        del self.g.node[:]
        self.g.node.extend(nodes)
        self.g.initializer.extend(self.new_inits)
        # the lowered graph is plain ONNX; the contrib domain import is no longer needed for these ops
        return lowered


def lower_qoperator(model: onnx.ModelProto, source: str) -> tuple[onnx.ModelProto, int]:
    """A copy of ``model`` with QOperator nodes in QDQ form, and how many were lowered."""
    if not needs_lowering(model):
        return model, 0
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    lowered = _Lowering(copy, source).run()
    return copy, lowered


__all__ = ["lower_qoperator", "needs_lowering"]
