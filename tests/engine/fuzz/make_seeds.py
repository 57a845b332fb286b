"""Seed engine files for the structure-aware fuzzer (engine/tests/fuzz): real models, exported and converted
the way users' models are (``export.to_onnx`` + ``export.convert_model``), small enough that one inference
under ASan takes milliseconds.

    .venv/bin/python -m tests.engine.fuzz.make_seeds build/fuzz/seeds            # the campaign's seeds
    .venv/bin/python -m tests.engine.fuzz.make_seeds DIR --only mobilenetv2 tv_mobilenet_v2
    .venv/bin/python -m tests.engine.fuzz.make_seeds engine/tests/fuzz/seeds --committed   # ctest's small seeds

Zoo models at width 0.25, one input channel, 28-32 px (``small_input``); torchvision and timm models at their
smallest configuration; OpsMix, a small network with the ops those lack. "_dyn" seeds have symbolic height and
width, which brings the converter's shape subgraphs (Shape, Gather, Concat ... folded at plan time) into the
file and lets the fuzzer feed tiny images; "_fp16" seeds store weights as fp16. Seeds are regenerated rather
than committed, except the small set (``--committed``) in engine/tests/fuzz/seeds that ctest's fuzz smoke
mutates.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tests.engine.fuzz import slm_edit


@dataclass(frozen=True)
class Seed:
    name: str
    build: Callable[[], nn.Module]
    shape: tuple[int, ...]
    dynamic_hw: bool = False
    weights: str = "fp32"
    dynamic_batch: bool = True


def _zoo(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from lightweight_models import create_model

        return create_model(name, num_classes=10, in_chans=1, small_input=True, width_mult=0.25, **kwargs)

    return build


def _tv(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(num_classes=10, **kwargs)

    return build


class OpsMix(nn.Module):
    """The ops the zoo's classifiers lack, in one small image-to-image network: Resize (nearest and
    bilinear), ConvTranspose, PixelShuffle (DepthToSpace), Pad (reflect), PRelu, InstanceNormalization, Elu,
    pools with padding, Clip, Softmax/LogSoftmax, reductions, ArgMax, Where, Range over a dynamic size."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.prelu = nn.PReLU(8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.shuffle = nn.PixelShuffle(2)
        self.unshuffle = nn.PixelUnshuffle(2)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = nn.functional
        h = self.inorm(self.prelu(self.stem(x)))
        d = f.elu(self.down(f.pad(h, (1, 1, 1, 1), mode="reflect")[:, :, 1:-1, 1:-1]))
        u = self.up(d) + f.interpolate(d, scale_factor=2.0, mode="nearest")[:, :8]
        u = self.unshuffle(self.shuffle(torch.cat([u, h, u, h], 1)))[:, :8]
        p = f.max_pool2d(u, 3, stride=1, padding=1) + f.avg_pool2d(u, 3, stride=1, padding=1, count_include_pad=False)
        y = self.head(torch.clamp(p, -3.0, 3.0))
        w = f.interpolate(y, size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        s = torch.softmax(w, dim=1) + torch.log_softmax(w, dim=1)
        m = s.mean(dim=(2, 3), keepdim=True) * s.amax(dim=(2, 3), keepdim=True)
        idx = torch.argmax(m.flatten(1), dim=1)
        sel = torch.where(s > 0, s, s * 0.1).sum(dim=1)
        pos = torch.arange(sel.shape[-1]).float()
        return sel * pos + idx.unsqueeze(-1).unsqueeze(-1).float(), m.flatten(1)


def _timm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, num_classes=10)

    return build


SEEDS = [
    Seed("mobilenetv2", _zoo("mobilenetv2"), (1, 1, 28, 28)),
    Seed("mobilenetv2_dyn", _zoo("mobilenetv2"), (1, 1, 28, 28), dynamic_hw=True),
    Seed("shufflenetv2", _zoo("shufflenetv2_x0_5"), (1, 1, 28, 28)),
    Seed("shufflenetv2_dyn", _zoo("shufflenetv2_x0_5"), (1, 1, 28, 28), dynamic_hw=True),
    Seed("mobilevit_xxs", _zoo("mobilevit_xxs"), (1, 1, 32, 32)),
    Seed("efficientnet_b0_fp16", _zoo("efficientnet_b0"), (1, 1, 32, 32), weights="fp16"),
    Seed("squeezenet1_1", _zoo("squeezenet1_1"), (1, 1, 32, 32)),
    Seed("squeezenet1_1_dyn", _zoo("squeezenet1_1"), (1, 1, 32, 32), dynamic_hw=True),
    Seed("mobilenetv3_small", _zoo("mobilenetv3_small"), (1, 1, 32, 32)),
    Seed("tv_mobilenet_v2", _tv("mobilenet_v2", width_mult=0.25), (1, 3, 32, 32)),
    Seed("tv_shufflenet_v2_dyn", _tv("shufflenet_v2_x0_5"), (1, 3, 32, 32), dynamic_hw=True),
    # Its batch-dependent Expand shape goes through Equal/Where, which the engine does not fold.
    Seed("timm_test_vit", _timm("test_vit"), (1, 3, 160, 160), dynamic_batch=False),
    Seed("timm_test_efficientnet", _timm("test_efficientnet"), (1, 3, 160, 160)),
    Seed("timm_test_convnext_fp16", _timm("test_convnext"), (1, 3, 160, 160), weights="fp16"),
    Seed("ops_mix_dyn", OpsMix, (1, 3, 16, 16), dynamic_hw=True),
    # Only for the committed set (below): fp16 halves them.
    Seed("squeezenet1_1_fp16", _zoo("squeezenet1_1"), (1, 1, 32, 32), weights="fp16"),
    Seed("mobilevit_xxs_fp16", _zoo("mobilevit_xxs"), (1, 1, 32, 32), weights="fp16"),
    Seed("mobilenetv3_small_fp16", _zoo("mobilenetv3_small"), (1, 1, 32, 32), weights="fp16"),
    Seed("timm_test_vit_fp16", _timm("test_vit"), (1, 3, 160, 160), dynamic_batch=False, weights="fp16"),
]
CAMPAIGN = [s.name for s in SEEDS if s.name not in
            ("squeezenet1_1_fp16", "mobilevit_xxs_fp16", "mobilenetv3_small_fp16", "timm_test_vit_fp16")]
# engine/tests/fuzz/seeds: what ctest's fuzz smoke mutates, each cut to 200 KB at most (cut()).
COMMITTED = ["shufflenetv2", "squeezenet1_1_fp16", "mobilevit_xxs_fp16", "mobilenetv3_small_fp16", "timm_test_vit_fp16",
             "ops_mix_dyn"]
COMMITTED_MAX_BYTES = 200_000


def make_seed(seed: Seed, out_dir: Path) -> Path:
    from export import convert_model, to_onnx

    torch.manual_seed(0)
    model = seed.build().eval()
    out = out_dir / f"{seed.name}.slm"
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_path = Path(tmp) / f"{seed.name}.onnx"
        outputs = ("y", "m") if isinstance(model, OpsMix) else ("output",)
        to_onnx(model, torch.randn(*seed.shape), onnx_path, dynamic_batch=seed.dynamic_batch,
                dynamic_hw=seed.dynamic_hw, output_names=outputs)
        convert_model(onnx_path, out, weights=seed.weights)
    return out


def control_flow_seed(out_dir: Path) -> Path:
    """If (a data-dependent branch, branches of different shapes), a Loop whose body computes its condition
    (a run-time trip count: dynamic outputs), a Loop with a constant trip count, a Scan: graph attributes,
    captures and the run-time-shape planning for the fuzzer to mutate."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from export import convert_model

    f, i64, b = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
    vi = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=f), helper.make_node("Add", ["acc", "x"], ["acc_out"]),
         helper.make_node("Mul", ["acc_out", "fi"], ["scan_out"]),
         helper.make_node("ReduceSum", ["acc_out"], ["tot"], keepdims=0),
         helper.make_node("Less", ["tot", "limit"], ["cond_out"])],
        "body", [vi("i", i64, []), vi("c", b, []), vi("acc", f, [1, 4])],
        [vi("cond_out", b, []), vi("acc_out", f, [1, 4]), vi("scan_out", f, [1, 4])])
    fixed = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Mul", ["acc", "x"], ["acc_out"])],
        "fixed", [vi("i", i64, []), vi("c", b, []), vi("acc", f, [1, 4])],
        [vi("c_out", b, []), vi("acc_out", f, [1, 4])])
    then_g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["t"])], "then", [], [vi("t", f, [1, 4])])
    else_g = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["e"])], "else", [], [vi("e", f, [4, 1])])
    scan_body = helper.make_graph([helper.make_node("Add", ["s", "row"], ["s_out"]),
                                   helper.make_node("Relu", ["s_out"], ["r"])],
                                  "scan", [vi("s", f, [4]), vi("row", f, [4])], [vi("s_out", f, [4]), vi("r", f, [4])])
    nodes = [helper.make_node("Loop", ["M", "go", "x"], ["acc", "scans"], body=body, name="loop"),
             helper.make_node("ReduceSum", ["scans", "ax0"], ["s0"], keepdims=0),
             helper.make_node("Loop", ["three", "", "s0"], ["p"], body=fixed, name="fixed_loop"),
             helper.make_node("ReduceSum", ["p"], ["psum"], keepdims=0),
             helper.make_node("Greater", ["psum", "limit"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g, name="branch"),
             helper.make_node("Relu", ["y"], ["z"]),
             helper.make_node("Reshape", ["scans", "flat"], ["scans2d"]),
             helper.make_node("Scan", ["s4", "scans2d"], ["s_final", "rows"], body=scan_body, num_scan_inputs=1,
                              name="scan")]
    inits = {"limit": np.array(6.0, np.float32), "ax0": np.array([0], np.int64), "three": np.array(3, np.int64),
             "shape": np.array([4, 1], np.int64), "s4": np.zeros(4, np.float32), "flat": np.array([-1, 4], np.int64)}
    graph = helper.make_graph(
        nodes, "control_flow", [vi("x", f, [1, 4]), vi("M", i64, []), vi("go", b, [])],
        [vi("z", f, [None, None]), vi("acc", f, [1, 4]), vi("s_final", f, [4]), vi("rows", f, [None, 4])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    out = out_dir / "control_flow.slm"
    convert_model(model, out)
    return out


def cut(data: bytes, max_bytes: int) -> bytes:
    """The longest prefix of the model's nodes whose file fits in ``max_bytes``: a real model's structure,
    ending early (its last kept node's output becomes the graph output), with the weights it no longer uses
    dropped. Used for the small seeds committed to the repository."""
    full = slm_edit.parse(data)
    best = b""
    lo, hi = 1, len(full.nodes)
    while lo <= hi:
        k = (lo + hi) // 2
        out = _prefix(full, k).to_bytes()
        if len(out) <= max_bytes:
            best, lo = out, k + 1
        else:
            hi = k - 1
    if not best:
        raise ValueError(f"even the first node does not fit in {max_bytes} bytes")
    return best


def _prefix(full: slm_edit.SlmFile, k: int) -> slm_edit.SlmFile:
    f = copy.deepcopy(full)
    f.nodes = f.nodes[:k]
    f.outputs = [f.nodes[-1].outputs[0]]
    used = set(f.inputs) | set(f.outputs)
    for n in f.nodes:
        used |= {i for i in n.inputs if i >= 0} | set(n.outputs)
    keep = [i for i in range(len(f.tensors)) if i in used]
    new_index = {old: new for new, old in enumerate(keep)}
    weights = bytearray()
    tensors = []
    for i in keep:
        t = f.tensors[i]
        if t.kind == 2:
            weights += b"\0" * (-len(weights) % 64)
            chunk = full.weights[t.offset:t.offset + t.size]
            t.offset = len(weights)
            weights += chunk
        tensors.append(t)
    f.tensors, f.weights = tensors, bytes(weights)
    f.inputs = [new_index[i] for i in f.inputs]
    f.outputs = [new_index[i] for i in f.outputs]
    for n in f.nodes:
        n.inputs = [new_index[i] if i >= 0 else -1 for i in n.inputs]
        n.outputs = [new_index[o] for o in n.outputs]
    f.meta = [*f.meta, ("fuzz_seed", f"first {k} of {len(full.nodes)} nodes")]
    return f


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--only", nargs="*", help="seed names (default: the campaign's)")
    parser.add_argument("--committed", action="store_true",
                        help=f"the committed set ({', '.join(COMMITTED)}), cut to {COMMITTED_MAX_BYTES} bytes")
    parser.add_argument("--max-bytes", type=int, default=0,
                        help="cut larger seeds to their longest node prefix that fits (see cut())")
    args = parser.parse_args(argv)
    if args.committed:
        args.only, args.max_bytes = COMMITTED, COMMITTED_MAX_BYTES
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if "control_flow" in (args.only or CAMPAIGN):
        path = control_flow_seed(args.out_dir)
        print(f"{path} {path.stat().st_size} bytes")
    for seed in SEEDS:
        if seed.name not in (args.only or CAMPAIGN):
            continue
        path = make_seed(seed, args.out_dir)
        if args.max_bytes and path.stat().st_size > args.max_bytes:
            path.write_bytes(cut(path.read_bytes(), args.max_bytes))
        print(f"{path} {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
