"""Structure-aware fuzzing of the ONNX -> engine converter.

Seeds are real ONNX files exported from tiny zoo models. A mutant is one seed changed at the level a hostile
or broken file would be: bytes (truncated, flipped, random), the graph (nodes deleted, duplicated, reordered,
rewired into cycles or to names nothing produces), values (dims negative or huge, dtypes changed, data cut
short, moved to external files inside and outside the model's folder), attributes (wrong types, absurd
values) and the header (opsets, IR version, domains). The oracle: a mutant either converts and the engine
loads the result, or the converter raises ``ModelFormatError`` (``UnsupportedOpsError`` included); anything
else, or a converted file the engine refuses, is a finding.

Each mutant is a pure function of (base seed, index), so any finding can be rebuilt from two integers:
``Fuzzer(seeds, base_seed).mutant(index)``.
"""

from __future__ import annotations

import random
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from export import ModelFormatError
from export import convert_model as convert

# (zoo name, create_model kwargs, input shape): small enough that a conversion takes milliseconds
TEST_SEEDS = (
    ("simple_cnn", {"num_classes": 10, "in_chans": 1, "width_mult": 0.25}, (1, 1, 28, 28)),
    ("mobilenetv3_small", {"num_classes": 10, "in_chans": 1, "small_input": True, "width_mult": 0.25},
     (1, 1, 32, 32)),
)
MORE_SEEDS = (
    ("shufflenetv2_x0_5", {"num_classes": 10, "in_chans": 1, "small_input": True}, (1, 1, 32, 32)),
    ("mobilenetv2", {"num_classes": 10, "in_chans": 1, "small_input": True, "width_mult": 0.25}, (1, 1, 32, 32)),
)

SECRET = b"SLIMLAB-FUZZ-SECRET-OUTSIDE-THE-MODEL-FOLDER-"  # must never reach an engine file
HUGE = (2**31, 2**32 + 1, 2**40, 2**62, 2**63 - 1)
OP_TYPES = ("Relu", "Sigmoid", "Add", "Mul", "Conv", "MatMul", "Gemm", "Reshape", "Transpose", "Concat", "Erf",
            "If", "Loop", "Foo", "", "SiLU", "Upsample", "BatchNormalization", "Split", "Where", "Shape",
            "Gather", "Identity", "ConstantOfShape", "Range", "Tile", "Expand", "Pad", "Resize", "Softmax",
            "NonZero", "QuantizeLinear", "Flatten", "Squeeze", "Unsqueeze", "Slice", "Cast", "ReduceMean",
            "GlobalAveragePool", "HardSwish", "Clip", "Dropout", "Constant")
DOMAINS = ("com.microsoft", "ai.onnx.ml", "ai.onnx", "", "org.example.custom")
LOCATIONS = ("weights.bin", "../secret.bin", "/etc/hostname", "missing.bin", "sub/../weights.bin",
             "link_out.bin", "", "weights.bin\0x", "..\\secret.bin")


def export_seeds(folder: Path, seeds: tuple = TEST_SEEDS) -> list[Path]:
    """Export the seed models once (deterministic weights); returns the ONNX paths."""
    import torch

    from export import to_onnx
    from lightweight_models import create_model

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, kwargs, shape in seeds:
        path = folder / f"{name}.onnx"
        if not path.exists():
            torch.manual_seed(0)
            model = create_model(name, **kwargs).eval()
            to_onnx(model, torch.randn(*shape), path, verify=False)
        paths.append(path)
    return paths


def prepare_folder(folder: Path) -> Path:
    """The mutants' model folder: a weights file inside, a secret and a symlink to it outside."""
    model_dir = folder / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    (folder / "secret.bin").write_bytes(SECRET * 64)
    (model_dir / "weights.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    link = model_dir / "link_out.bin"
    if not link.is_symlink():
        link.symlink_to(folder / "secret.bin")
    return model_dir


# ---- mutations ----------------------------------------------------------------------------------
Mutation = Callable[[onnx.ModelProto, random.Random], str]


def _pick_node(m: onnx.ModelProto, r: random.Random) -> tuple[int, onnx.NodeProto] | None:
    if not m.graph.node:
        return None
    i = r.randrange(len(m.graph.node))
    return i, m.graph.node[i]


def _value_names(m: onnx.ModelProto) -> list[str]:
    g = m.graph
    names = [i.name for i in g.input] + [t.name for t in g.initializer]
    return names + [o for n in g.node for o in n.output if o]


def _odd_int(r: random.Random) -> int:
    return r.choice([0, -1, -2, 1, 2, 3, 7, 65535, -(2**40), *HUGE])


def delete_node(m: onnx.ModelProto, r: random.Random) -> str:
    picked = _pick_node(m, r)
    if picked is None:
        return "no node to delete"
    del m.graph.node[picked[0]]
    return f"delete node #{picked[0]}"


def duplicate_node(m: onnx.ModelProto, r: random.Random) -> str:
    picked = _pick_node(m, r)
    if picked is None:
        return "no node to duplicate"
    copy = onnx.NodeProto()
    copy.CopyFrom(picked[1])
    at = r.randrange(len(m.graph.node) + 1)
    m.graph.node.insert(at, copy)
    return f"duplicate node #{picked[0]} at {at}"


def swap_nodes(m: onnx.ModelProto, r: random.Random) -> str:
    n = len(m.graph.node)
    if n < 2:
        return "no nodes to swap"
    i, j = r.sample(range(n), 2)
    a, b = onnx.NodeProto(), onnx.NodeProto()
    a.CopyFrom(m.graph.node[i])
    b.CopyFrom(m.graph.node[j])
    m.graph.node[i].CopyFrom(b)
    m.graph.node[j].CopyFrom(a)
    return f"swap nodes #{i} #{j}"


def rewire_input(m: onnx.ModelProto, r: random.Random) -> str:
    picked = _pick_node(m, r)
    if picked is None or not picked[1].input:
        return "no input to rewire"
    i, node = picked
    k = r.randrange(len(node.input))
    later = [o for n in m.graph.node[i:] for o in n.output if o]
    choice = r.choice(["missing", "any", "own", "later", "empty"])
    name = {"missing": f"nowhere_{r.randrange(100)}", "any": r.choice(_value_names(m) or ["x"]),
            "own": node.output[0] if node.output else "", "later": r.choice(later or ["x"]), "empty": ""}[choice]
    node.input[k] = name
    return f"node #{i} input {k} -> {choice} '{name}'"


def rewire_output(m: onnx.ModelProto, r: random.Random) -> str:
    picked = _pick_node(m, r)
    if picked is None or not picked[1].output:
        return "no output to rewire"
    i, node = picked
    k = r.randrange(len(node.output))
    name = r.choice([f"fresh_{r.randrange(100)}", r.choice(_value_names(m) or ["x"]), ""])
    node.output[k] = name
    return f"node #{i} output {k} -> '{name}'"


def make_cycle(m: onnx.ModelProto, r: random.Random) -> str:
    n = len(m.graph.node)
    if n < 2:
        return "no nodes for a cycle"
    i = r.randrange(n - 1)
    j = r.randrange(i + 1, n)
    src, dst = m.graph.node[j], m.graph.node[i]
    if not src.output or not dst.input:
        return "no cycle made"
    dst.input[r.randrange(len(dst.input))] = src.output[0]
    return f"node #{i} reads the output of later node #{j}"


def set_op_type(m: onnx.ModelProto, r: random.Random) -> str:
    picked = _pick_node(m, r)
    if picked is None:
        return "no node"
    op = r.choice(OP_TYPES)
    picked[1].op_type = op
    return f"node #{picked[0]} op -> '{op}'"


def set_domain(m: onnx.ModelProto, r: random.Random) -> str:
    picked = _pick_node(m, r)
    if picked is None:
        return "no node"
    d = r.choice(DOMAINS)
    picked[1].domain = d
    if r.random() < 0.5 and d:
        m.opset_import.append(helper.make_opsetid(d, 1))
    return f"node #{picked[0]} domain -> '{d}'"


def mutate_attribute(m: onnx.ModelProto, r: random.Random) -> str:
    nodes = [(i, n) for i, n in enumerate(m.graph.node) if n.attribute]
    if not nodes or r.random() < 0.2:
        picked = _pick_node(m, r)
        if picked is None:
            return "no node"
        name = r.choice(["axis", "perm", "kernel_shape", "bogus", "to", "value", "group", "pads", "mode"])
        picked[1].attribute.append(helper.make_attribute(name, r.choice([1, 1.5, "x", [1, 2], [0.5]])))
        return f"node #{picked[0]} add attribute {name}"
    i, node = r.choice(nodes)
    a = node.attribute[r.randrange(len(node.attribute))]
    what = r.choice(["type", "delete", "value", "value", "value", "string", "graph"])
    if what == "type":
        a.type = r.choice([t for t in AttributeProto.AttributeType.values() if t != a.type])
    elif what == "delete":
        node.attribute.remove(a)
    elif what == "string":
        a.type, a.s = AttributeProto.STRING, r.choice([b"", b"NOTSET", b"SAME_UPPER", b"garbage", b"\xff\xfe"])
    elif what == "graph":
        a.type = AttributeProto.GRAPH
        a.g.CopyFrom(helper.make_graph([], "sub", [], []))
    elif a.type == AttributeProto.INTS and a.ints:
        a.ints[r.randrange(len(a.ints))] = _odd_int(r)
    elif a.type == AttributeProto.INT:
        a.i = _odd_int(r)
    elif a.type == AttributeProto.FLOAT:
        a.f = r.choice([float("nan"), float("inf"), -1.0, 1e30, 0.0])
    elif a.type == AttributeProto.TENSOR:
        a.t.dims[:] = [_odd_int(r) for _ in range(r.randrange(3))]
    else:
        a.ints.append(_odd_int(r))
    return f"node #{i} attribute {a.name}: {what}"


def _pick_initializer(m: onnx.ModelProto, r: random.Random) -> onnx.TensorProto | None:
    inits = m.graph.initializer
    return inits[r.randrange(len(inits))] if inits else None


def mutate_initializer(m: onnx.ModelProto, r: random.Random) -> str:
    t = _pick_initializer(m, r)
    if t is None:
        return "no initializer"
    what = r.choice(["dims", "huge", "negative", "rank", "dtype", "truncate", "extend", "typed", "nan", "delete",
                     "duplicate", "rename", "values", "external", "external", "bad-dtype"])
    if what == "dims" and t.dims:
        k = r.randrange(len(t.dims))
        t.dims[k] = max(t.dims[k] * r.choice([2, 0]), 0) or r.choice([0, 1, 3])
    elif what == "huge":
        t.dims[:] = [r.choice(HUGE)] + list(t.dims)[1:]
    elif what == "negative" and t.dims:
        t.dims[r.randrange(len(t.dims))] = -r.randrange(1, 5)
    elif what == "rank":
        t.dims[:] = list(t.dims) + [1] * r.randrange(1, 9) if r.random() < 0.5 else list(t.dims)[1:]
    elif what == "dtype":
        t.data_type = r.choice([1, 2, 3, 6, 7, 9, 10, 11, 16, 22, 8, 14])
    elif what == "bad-dtype":
        t.data_type = r.choice([0, 25, 27, 99, -3])
    elif what == "truncate":
        t.raw_data = t.raw_data[: r.randrange(len(t.raw_data) + 1)]
    elif what == "extend":
        t.raw_data = t.raw_data + b"\0" * r.choice([1, 4, 64])
    elif what == "typed" and t.data_type == TensorProto.FLOAT and t.raw_data:
        arr = np.frombuffer(t.raw_data[: len(t.raw_data) // 4 * 4], np.float32)  # dims may be mutated already
        t.ClearField("raw_data")
        t.float_data.extend(arr.reshape(-1)[: r.choice([arr.size, max(arr.size - 1, 0)])].tolist())
    elif what == "nan" and t.data_type == TensorProto.FLOAT and t.raw_data and len(t.raw_data) % 4 == 0:
        arr = np.frombuffer(t.raw_data, np.float32).copy()
        arr[r.randrange(arr.size)] = r.choice([np.nan, np.inf, -np.inf])
        t.raw_data = arr.tobytes()
    elif what == "delete":
        m.graph.initializer.remove(t)
    elif what == "duplicate":
        m.graph.initializer.append(t)
    elif what == "rename":
        t.name = r.choice(["", f"renamed_{r.randrange(10)}", *(_value_names(m)[:3] or ["x"])])
    elif what == "values" and t.data_type == TensorProto.INT64 and len(t.raw_data) % 8 == 0 and t.raw_data:
        arr = np.frombuffer(t.raw_data, np.int64).copy()  # Reshape targets, axes, pads
        arr[r.randrange(arr.size)] = _odd_int(r)
        t.raw_data = arr.tobytes()
    elif what == "external":
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        loc = r.choice(LOCATIONS)
        entries = {"location": loc}
        if r.random() < 0.7:
            entries["offset"] = str(r.choice([0, 64, 4096, -8, 2**62]))
        if r.random() < 0.7:
            entries["length"] = str(r.choice([len(t.raw_data), 16, 4096, 2**40, -1]) if r.random() < 0.9 else "x")
        for k, v in entries.items():
            t.external_data.add(key=k, value=v)
        t.ClearField("raw_data")
        what = f"external {entries}"
    return f"initializer '{t.name}': {what}"


def mutate_graph_input(m: onnx.ModelProto, r: random.Random) -> str:
    g = m.graph
    if not g.input:
        return "no graph input"
    info = g.input[r.randrange(len(g.input))]
    what = r.choice(["dim", "dim", "dtype", "delete", "duplicate", "untyped", "rank"])
    dims = info.type.tensor_type.shape.dim
    if what == "dim" and dims:
        d = dims[r.randrange(len(dims))]
        choice = r.choice([-1, -7, 0, 1, 3, *HUGE, "sym"])
        if choice == "sym":
            d.dim_param = "n"
        else:
            d.dim_value = choice
    elif what == "dtype":
        info.type.tensor_type.elem_type = r.choice([0, 2, 7, 8, 10, 11, 16, 99])
    elif what == "delete":
        g.input.remove(info)
    elif what == "duplicate":
        g.input.append(info)
    elif what == "untyped":
        info.ClearField("type")
    elif what == "rank":
        for _ in range(r.randrange(1, 8)):
            dims.add().dim_value = 1
    return f"graph input '{info.name}': {what}"


def mutate_graph_output(m: onnx.ModelProto, r: random.Random) -> str:
    g = m.graph
    what = r.choice(["clear", "rename", "input", "dtype", "dims", "add"])
    if what == "clear" or not g.output:
        del g.output[:]
        return "graph outputs cleared"
    out = g.output[r.randrange(len(g.output))]
    if what == "rename":
        out.name = r.choice(["nowhere", ""])
    elif what == "input":
        out.name = r.choice(_value_names(m) or ["x"])
    elif what == "dtype":
        out.type.tensor_type.elem_type = r.choice([0, 7, 8, 11, 99])
    elif what == "dims":
        for d in out.type.tensor_type.shape.dim:
            d.dim_value = r.choice([-1, 0, 5, 2**40])
    else:
        g.output.append(out)
    return f"graph output '{out.name}': {what}"


def mutate_header(m: onnx.ModelProto, r: random.Random) -> str:
    what = r.choice(["opset", "opset", "opset", "dup-opset", "no-opset", "ir", "domain-import"])
    if what == "opset":
        v = r.choice([1, 5, 6, 7, 9, 11, 13, 16, 18, 20, 21, 23, 25, 28, 29, 40])
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = v
        return f"opset -> {v}"
    if what == "dup-opset":
        m.opset_import.append(helper.make_opsetid(r.choice(["", "ai.onnx"]), 13))
    elif what == "no-opset":
        del m.opset_import[:]
    elif what == "ir":
        m.ir_version = r.choice([0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 99])
        return f"ir_version -> {m.ir_version}"
    else:
        m.opset_import.append(helper.make_opsetid("org.example.custom", 1))
    return what


def add_value_info(m: onnx.ModelProto, r: random.Random) -> str:
    names = [o for n in m.graph.node for o in n.output if o] + [i.name for i in m.graph.input]
    if not names:
        return "no value"
    name = r.choice(names)
    shape = [r.choice([-3, 0, 1, 7, 2**40, "s"]) for _ in range(r.randrange(0, 10))]
    info = helper.make_tensor_value_info(name, r.choice([1, 7, 8, 10, 0]), [None if s == "s" else s for s in shape])
    m.graph.value_info.append(info)
    return f"value_info '{name}' {shape}"


def add_expanding_node(m: onnx.ModelProto, r: random.Random) -> str:
    """A constant sub-graph whose folding would make a huge (or impossible) tensor."""
    g = m.graph
    tag = f"fz{r.randrange(10**6)}"
    big = r.choice([*HUGE, 10**6, 3, -5])
    kind = r.choice(["ConstantOfShape", "Expand", "Tile", "Range", "Range-zero", "Gather", "Broadcast"])
    if kind == "ConstantOfShape":
        g.initializer.append(numpy_helper.from_array(np.array([big, big], np.int64), f"{tag}_s"))
        g.node.append(helper.make_node("ConstantOfShape", [f"{tag}_s"], [f"{tag}_y"], name=tag))
    elif kind == "Expand":
        g.initializer.append(numpy_helper.from_array(np.ones((1, 1), np.float32), f"{tag}_x"))
        g.initializer.append(numpy_helper.from_array(np.array([big, big], np.int64), f"{tag}_s"))
        g.node.append(helper.make_node("Expand", [f"{tag}_x", f"{tag}_s"], [f"{tag}_y"], name=tag))
    elif kind == "Tile":
        g.initializer.append(numpy_helper.from_array(np.ones((2, 2), np.float32), f"{tag}_x"))
        g.initializer.append(numpy_helper.from_array(np.array([big, big], np.int64), f"{tag}_s"))
        g.node.append(helper.make_node("Tile", [f"{tag}_x", f"{tag}_s"], [f"{tag}_y"], name=tag))
    elif kind.startswith("Range"):
        delta = 0.0 if kind == "Range-zero" else 1.0
        for k, v in (("a", 0.0), ("b", float(big)), ("d", delta)):
            g.initializer.append(numpy_helper.from_array(np.array(v, np.float32), f"{tag}_{k}"))
        g.node.append(helper.make_node("Range", [f"{tag}_a", f"{tag}_b", f"{tag}_d"], [f"{tag}_y"], name=tag))
    elif kind == "Gather":
        g.initializer.append(numpy_helper.from_array(np.ones((4, 4096), np.float32), f"{tag}_x"))
        g.initializer.append(numpy_helper.from_array(np.zeros(r.choice([4, 40000]), np.int64), f"{tag}_i"))
        g.node.append(helper.make_node("Gather", [f"{tag}_x", f"{tag}_i"], [f"{tag}_y"], name=tag))
    else:
        g.initializer.append(numpy_helper.from_array(np.ones((40000, 1), np.float32), f"{tag}_x"))
        g.initializer.append(numpy_helper.from_array(np.ones((1, 40000), np.float32), f"{tag}_z"))
        g.node.append(helper.make_node("Add", [f"{tag}_x", f"{tag}_z"], [f"{tag}_y"], name=tag))
    if r.random() < 0.5 and g.output:  # make it live, so the graph needs it
        g.output.append(helper.make_tensor_value_info(f"{tag}_y", TensorProto.FLOAT, None))
    return f"add {kind} with {big}"


def add_constant_node(m: onnx.ModelProto, r: random.Random) -> str:
    g = m.graph
    tag = f"fz{r.randrange(10**6)}"
    kind = r.choice(["string", "huge", "sparse", "two", "ok", "nan"])
    if kind == "string":
        node = helper.make_node("Constant", [], [tag], value_strings=["a", "b"])
    elif kind == "huge":
        t = numpy_helper.from_array(np.ones(4, np.float32), "c")
        t.dims[:] = [2**40]
        node = helper.make_node("Constant", [], [tag], value=t)
    elif kind == "sparse":
        node = helper.make_node("Constant", [], [tag])
        node.attribute.append(helper.make_attribute("sparse_value", helper.make_sparse_tensor(
            numpy_helper.from_array(np.ones(1, np.float32), "v"), numpy_helper.from_array(np.zeros(1, np.int64), "i"),
            [4])))
    elif kind == "two":
        node = helper.make_node("Constant", [], [tag], value_float=1.0, value_int=2)
    else:
        value = np.float32(np.nan) if kind == "nan" else np.float32(2.0)
        node = helper.make_node("Constant", [], [tag], value=numpy_helper.from_array(np.full(3, value), "c"))
    g.node.insert(r.randrange(len(g.node) + 1), node)
    if g.node and r.random() < 0.5:  # feed it to someone
        target = g.node[r.randrange(len(g.node))]
        if target.input and target is not node:
            target.input[r.randrange(len(target.input))] = tag
    return f"add Constant ({kind})"


# ---- rewrites that keep a model valid, so that the passes (not just the checks) meet odd graphs ------------
UNARY = ("Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Identity", "Dropout", "HardSwish", "HardSigmoid", "Erf", "Exp",
         "Softplus", "LeakyRelu", "Elu", "Sqrt", "Floor", "Clip")


def swap_unary(m: onnx.ModelProto, r: random.Random) -> str:
    nodes = [n for n in m.graph.node if n.op_type in UNARY]
    if not nodes:
        return "no unary node"
    node = r.choice(nodes)
    old, node.op_type = node.op_type, r.choice(UNARY)
    del node.input[1:]
    del node.attribute[:]
    return f"unary {old} -> {node.op_type}"


def _rewire(m: onnx.ModelProto, value: str, new: str, skip: onnx.NodeProto) -> None:
    for n in m.graph.node:
        if n is not skip:
            for k, name in enumerate(n.input):
                if name == value:
                    n.input[k] = new


def insert_chain(m: onnx.ModelProto, r: random.Random) -> str:
    """Insert a pass-through or pattern chain after an interior value (what the passes look for)."""
    g = m.graph
    outputs = {o.name for o in g.output}
    values = [o for n in g.node for o in n.output if o and o not in outputs]
    if not values:
        return "no interior value"
    v = r.choice(values)
    tag = f"ch{r.randrange(10**6)}"
    kind = r.choice(["Identity", "Dropout", "Transpose2", "ShapeReshape", "SiLU", "Gelu", "AddZero", "MulOne",
                     "Cast"])

    def const(name: str, value: float) -> str:
        g.initializer.append(numpy_helper.from_array(np.array(value, np.float32), f"{tag}_{name}"))
        return f"{tag}_{name}"

    nodes: list[onnx.NodeProto]
    if kind == "Identity":
        nodes = [helper.make_node("Identity", [v], [f"{tag}_y"])]
    elif kind == "Dropout":
        mode = r.choice([None, False, True])
        ins = [v] if mode is None else [v, const("ratio", 0.5), f"{tag}_mode"]
        if mode is not None:
            g.initializer.append(numpy_helper.from_array(np.array(mode), f"{tag}_mode"))
        nodes = [helper.make_node("Dropout", ins, [f"{tag}_y"])]
    elif kind == "Transpose2":  # the default perm reverses the dims: twice is the identity at any rank
        nodes = [helper.make_node("Transpose", [v], [f"{tag}_t"]), helper.make_node("Transpose", [f"{tag}_t"],
                                                                                       [f"{tag}_y"])]
    elif kind == "ShapeReshape":
        nodes = [helper.make_node("Shape", [v], [f"{tag}_s"]), helper.make_node("Reshape", [v, f"{tag}_s"],
                                                                                   [f"{tag}_y"])]
    elif kind == "SiLU":
        nodes = [helper.make_node("Sigmoid", [v], [f"{tag}_s"]), helper.make_node("Mul", [v, f"{tag}_s"],
                                                                                     [f"{tag}_y"])]
    elif kind == "Gelu":
        nodes = [helper.make_node("Div", [v, const("r2", 2**0.5)], [f"{tag}_d"]),
                 helper.make_node("Erf", [f"{tag}_d"], [f"{tag}_e"]),
                 helper.make_node("Add", [f"{tag}_e", const("one", 1.0)], [f"{tag}_a"]),
                 helper.make_node("Mul", [v, f"{tag}_a"], [f"{tag}_m"]),
                 helper.make_node("Mul", [f"{tag}_m", const("half", 0.5)], [f"{tag}_y"])]
    elif kind == "AddZero":
        nodes = [helper.make_node("Add", [v, const("zero", 0.0)], [f"{tag}_y"])]
    elif kind == "MulOne":
        nodes = [helper.make_node("Mul", [const("one", 1.0), v], [f"{tag}_y"])]
    else:
        nodes = [helper.make_node("Cast", [v], [f"{tag}_y"], to=r.choice([TensorProto.FLOAT, TensorProto.FLOAT16]))]
    _rewire(m, v, f"{tag}_y", nodes[0])
    at = next(k for k, n in enumerate(g.node) if v in n.output) + 1
    for k, node in enumerate(nodes):
        node.name = f"{tag}_{k}"
        g.node.insert(at + k, node)
    return f"insert {kind} after '{v}'"


def insert_batchnorm(m: onnx.ModelProto, r: random.Random) -> str:
    """A BatchNormalization after a Conv/Gemm, with statistics from ordinary to hostile (0, negative, NaN)."""
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    hosts = [n for n in g.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 1 and n.input[1] in inits]
    if not hosts:
        return "no Conv/Gemm"
    host = r.choice(hosts)
    w = inits[host.input[1]]
    channels = w.dims[0] if host.op_type == "Conv" or any(a.name == "transB" and a.i for a in host.attribute) \
        else w.dims[-1]
    channels = channels if r.random() < 0.9 else channels + 1
    tag = f"bn{r.randrange(10**6)}"
    rng = np.random.default_rng(r.randrange(2**32))
    stats = {"scale": rng.uniform(0.5, 1.5, channels), "bias": rng.uniform(-1, 1, channels),
             "mean": rng.uniform(-1, 1, channels), "var": rng.uniform(0.5, 2, channels)}
    odd = r.choice([None, "var", "scale", "mean"])
    if odd is not None:
        stats[odd][r.randrange(channels)] = r.choice([0.0, -1.0, np.nan, np.inf, 1e38])
    for k, arr in stats.items():
        g.initializer.append(numpy_helper.from_array(arr.astype(np.float32), f"{tag}_{k}"))
    y = host.output[0]
    bn = helper.make_node("BatchNormalization", [y, *(f"{tag}_{k}" for k in stats)], [f"{tag}_y"], name=tag,
                          epsilon=r.choice([1e-5, 0.0, 1.0]))
    _rewire(m, y, f"{tag}_y", bn)
    for o in g.output:
        if o.name == y:
            o.name = f"{tag}_y"
    g.node.insert(list(g.node).index(host) + 1, bn)
    return f"insert BatchNormalization ({channels} channels, odd {odd}) after {host.op_type}"


PROTO_MUTATIONS: tuple[Mutation, ...] = (
    delete_node, duplicate_node, swap_nodes, rewire_input, rewire_input, rewire_output, make_cycle, set_op_type,
    set_domain, mutate_attribute, mutate_attribute, mutate_attribute, mutate_initializer, mutate_initializer,
    mutate_initializer, mutate_graph_input, mutate_graph_output, mutate_header, add_value_info,
    add_expanding_node, add_constant_node, swap_unary, insert_chain, insert_chain, insert_batchnorm,
    insert_batchnorm,
)


def mutate_bytes(data: bytes, r: random.Random) -> tuple[bytes, str]:
    what = r.choice(["truncate", "truncate", "flip", "flip", "random", "empty", "insert", "prefix"])
    if what == "truncate":
        cut = r.randrange(len(data))
        return data[:cut], f"truncate at {cut}/{len(data)}"
    if what == "flip":
        buf = bytearray(data)
        # flips land near the start (header, graph structure) more often than in the weights
        for _ in range(r.randint(1, 8)):
            pos = int(len(buf) * r.random() ** 3)
            buf[pos] ^= 1 << r.randrange(8)
        return bytes(buf), "flip bits"
    if what == "random":
        return r.randbytes(r.randrange(1, 4096)), "random bytes"
    if what == "empty":
        return b"", "empty file"
    if what == "insert":
        pos = int(len(data) * r.random() ** 2)
        return data[:pos] + r.randbytes(r.randint(1, 16)) + data[pos:], f"insert bytes at {pos}"
    return b"SLIMLAB\0" + data[:100], "engine-file magic"


@dataclass
class Mutant:
    data: bytes
    steps: list[str]


class Fuzzer:
    """Mutants of seed models; mutant ``i`` depends only on (seeds, base_seed, i)."""

    def __init__(self, seeds: list[bytes], base_seed: int = 0) -> None:
        self.seeds = seeds
        self.models = [onnx.load_from_string(s) for s in seeds]
        self.base_seed = base_seed

    def mutant(self, index: int) -> Mutant:
        r = random.Random(f"{self.base_seed}:{index}")
        k = r.randrange(len(self.seeds))
        if r.random() < 0.2:
            data, step = mutate_bytes(self.seeds[k], r)
            return Mutant(data, [f"seed {k}", step])
        m = onnx.ModelProto()
        m.CopyFrom(self.models[k])
        steps = [f"seed {k}"]
        for _ in range(r.choice([1, 1, 1, 2, 2, 3])):
            mutation = r.choice(PROTO_MUTATIONS)
            try:
                steps.append(mutation(m, r))
            except Exception as exc:  # a mutator that trips on an earlier mutation's result is not a finding
                steps.append(f"{mutation.__name__} skipped ({type(exc).__name__}: {exc})")
        data = m.SerializeToString()
        if r.random() < 0.05:
            data, step = mutate_bytes(data, r)
            steps.append(step)
        return Mutant(data, steps)


# ---- the oracle ---------------------------------------------------------------------------------
@dataclass
class Finding:
    index: int
    steps: list[str]
    error: str
    trace: str


@dataclass
class Tally:
    mutants: int = 0
    converted: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # ModelFormatError kinds
    findings: list[Finding] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.mutants += other.mutants
        self.converted += other.converted
        self.errors.update(other.errors)
        self.findings += other.findings


def check_mutant(index: int, mutant: Mutant, model_dir: Path, matrix: dict[str, list[str]], tally: Tally) -> None:
    """Convert one mutant and judge the outcome; findings go into ``tally``."""
    import engine

    src, out = model_dir / "m.onnx", model_dir / "m.slm"
    src.write_bytes(mutant.data)
    out.unlink(missing_ok=True)
    tally.mutants += 1
    try:
        convert(src, out, weights="fp16" if index % 4 == 3 else "fp32")
    except ModelFormatError as exc:
        tally.errors[exc.kind] += 1
        if not str(exc).startswith(str(src)):
            tally.findings.append(Finding(index, mutant.steps, f"message does not name the file: {exc}", ""))
        return
    except Exception as exc:  # the point of fuzzing: anything else is a finding
        tally.findings.append(Finding(index, mutant.steps, f"{type(exc).__name__}: {exc}"[:500],
                                      traceback.format_exc()))
        return
    tally.converted += 1
    data = out.read_bytes()
    if SECRET[:24] in data:
        tally.findings.append(Finding(index, mutant.steps, "data from outside the model's folder was read", ""))
    try:
        engine.Session(str(out))
    except Exception as exc:
        tally.findings.append(Finding(index, mutant.steps, f"engine refuses the converted file: "
                                      f"{type(exc).__name__}: {exc}"[:500], traceback.format_exc()))


def run_range(fuzzer: Fuzzer, indices: range, model_dir: Path, matrix: dict[str, list[str]]) -> Tally:
    tally = Tally()
    for i in indices:
        check_mutant(i, fuzzer.mutant(i), model_dir, matrix, tally)
    return tally
