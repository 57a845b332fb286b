"""LSTM, GRU and RNN against ONNX Runtime: single-node graphs over every option ONNX defines, torch
sequence classifiers through the converter's default passes, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto as T
from onnx import helper, numpy_helper
from torch import nn

import engine
import export
from export.converter import prepare_graph
from export.onnx_export import to_onnx
from tests.engine.onnx_cases import check_against_ort, convert_model, graph_model, ort_run

F = T.FLOAT
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
rng = np.random.default_rng(7)


def r(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def cell_case(op: str, *, seq: int = 5, batch: int = 2, inp: int = 6, hidden: int = 8,
              direction: str = "forward", layout: int = 0, bias: bool = True, seq_lens: list[int] | None = None,
              init_h: bool = False, init_c: bool = False, peep: bool = False, outputs: tuple[bool, ...] = (),
              weights_as_inputs: bool = False, seed: int = 0,
              **attrs: object) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """One recurrent node; `outputs` says which of Y, Y_h(, Y_c) the graph returns (all by default).
    The data depend on `seed` only: layout 1 gets the transposed tensors of layout 0."""
    gen = np.random.default_rng(seed)

    def rnd(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (scale * gen.standard_normal(shape)).astype(np.float32)

    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    n_out = 3 if op == "LSTM" else 2
    outputs = outputs or (True,) * n_out
    x = rnd(seq, batch, inp)
    feeds: dict[str, np.ndarray] = {"x": x if layout == 0 else np.ascontiguousarray(x.transpose(1, 0, 2))}
    inits: dict[str, np.ndarray] = {}
    # wide layers get smaller weights: sums of hundreds of terms would otherwise cancel down to rounding noise
    w_scale = min(0.4, 2.0 / np.sqrt(hidden))
    weights = {"W": rnd(dirs, g * hidden, inp, scale=min(0.4, 2.0 / np.sqrt(inp))),
               "R": rnd(dirs, g * hidden, hidden, scale=w_scale)}
    if bias:
        weights["B"] = rnd(dirs, 2 * g * hidden, scale=0.3)
    if peep:
        weights["P"] = rnd(dirs, 3 * hidden, scale=0.3)
    (feeds if weights_as_inputs else inits).update(weights)

    def state() -> np.ndarray:
        s = rnd(dirs, batch, hidden)
        return s if layout == 0 else np.ascontiguousarray(s.transpose(1, 0, 2))

    ins = ["x", "W", "R", "B" if bias else ""]
    if seq_lens is not None:
        feeds["sl"] = np.array(seq_lens, dtype=np.int32)
    ins.append("sl" if seq_lens is not None else "")
    if init_h:
        feeds["h0"] = state()
    ins.append("h0" if init_h else "")
    if op == "LSTM":
        if init_c:
            feeds["c0"] = state()
        ins.append("c0" if init_c else "")
        ins.append("P" if peep else "")
    while ins and not ins[-1]:
        ins.pop()
    names = ["Y", "Y_h", "Y_c"][:n_out]
    outs = [n if keep else "" for n, keep in zip(names, outputs, strict=True)]
    while outs and not outs[-1]:
        outs.pop()
    node = helper.make_node(op, ins, outs, hidden_size=hidden, direction=direction, layout=layout, **attrs)
    model = graph_model([node], feeds, {o: F for o in outs if o}, inits)
    return model, feeds


def check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp: Path, optimize: bool = False) -> None:
    for threads in (1, 2):
        assert check_against_ort(model, feeds, tmp, optimize=optimize, rtol=1e-4, atol=1e-5, threads=threads) >= 1


ACTS = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu",
        "Softsign", "Softplus"]
TAKES = {"Affine": (0.7, 0.2), "LeakyRelu": (0.1, None), "ThresholdedRelu": (0.3, None), "ScaledTanh": (1.5, 0.6),
         "HardSigmoid": (0.3, 0.4), "Elu": (0.8, None)}


def act_attrs(names: list[str]) -> dict[str, object]:
    alphas = [TAKES[n][0] for n in names if n in TAKES]
    betas = [TAKES[n][1] for n in names if n in TAKES and TAKES[n][1] is not None]
    out: dict[str, object] = {"activations": names}
    if alphas:
        out["activation_alpha"] = alphas
    if betas:
        out["activation_beta"] = betas
    return out


CASES = {
    # LSTM
    "lstm_forward": ("LSTM", {}),
    "lstm_reverse": ("LSTM", {"direction": "reverse", "init_h": True, "init_c": True}),
    "lstm_bidir_all_inputs": ("LSTM", {"direction": "bidirectional", "init_h": True, "init_c": True, "peep": True}),
    "lstm_no_bias": ("LSTM", {"bias": False, "batch": 3}),
    "lstm_layout1_bidir": ("LSTM", {"layout": 1, "direction": "bidirectional", "init_h": True, "init_c": True}),
    "lstm_seq_lens": ("LSTM", {"batch": 3, "seq_lens": [5, 2, 3], "init_h": True, "init_c": True}),
    "lstm_seq_lens_bidir": ("LSTM", {"batch": 3, "seq_lens": [1, 5, 4], "direction": "bidirectional",
                                     "peep": True}),
    "lstm_seq_lens_layout1": ("LSTM", {"batch": 3, "seq_lens": [3, 5, 1], "layout": 1, "direction": "reverse"}),
    "lstm_only_y_h": ("LSTM", {"outputs": (False, True, False)}),
    "lstm_only_y_c": ("LSTM", {"outputs": (False, False, True), "direction": "bidirectional"}),
    "lstm_only_y": ("LSTM", {"outputs": (True, False, False)}),
    "lstm_clip": ("LSTM", {"clip": 0.5, "peep": True}),
    "lstm_input_forget": ("LSTM", {"input_forget": 1, "peep": True}),
    "lstm_input_forget_no_peep": ("LSTM", {"input_forget": 1}),
    "lstm_activations": ("LSTM", {"direction": "bidirectional",
                                  **act_attrs(["HardSigmoid", "Softsign", "ScaledTanh", "Sigmoid", "Relu", "Tanh"])}),
    "lstm_weights_as_inputs": ("LSTM", {"weights_as_inputs": True, "peep": True, "direction": "bidirectional"}),
    "lstm_wide": ("LSTM", {"hidden": 40, "inp": 17, "batch": 1, "seq": 7}),
    # hidden 32: the gate activations run in the recurrent GEMM's epilogue (3 * hidden on a panel boundary)
    "lstm_fused_gates": ("LSTM", {"hidden": 32, "batch": 3, "seq_lens": [4, 5, 2], "init_h": True, "init_c": True}),
    "lstm_fused_reverse_ragged": ("LSTM", {"hidden": 32, "batch": 3, "seq_lens": [4, 5, 2], "direction": "reverse"}),
    "lstm_fused_input_forget": ("LSTM", {"hidden": 32, "input_forget": 1, "direction": "bidirectional"}),
    # a product large enough that two threads split its columns every step
    "lstm_split_columns": ("LSTM", {"hidden": 512, "inp": 8, "batch": 1, "seq": 3, "init_h": True}),
    "gru_split_columns": ("GRU", {"hidden": 600, "inp": 8, "batch": 1, "seq": 3, "linear_before_reset": 1}),
    "gru_split_columns_lbr0": ("GRU", {"hidden": 600, "inp": 8, "batch": 1, "seq": 3, "direction": "reverse"}),
    "rnn_split_columns": ("RNN", {"hidden": 1024, "inp": 8, "batch": 1, "seq": 3}),
    # input projections large enough to be shared by the threads: over rows, and over columns (<= 4 rows)
    "lstm_parallel_projection": ("LSTM", {"hidden": 64, "inp": 128, "batch": 4, "seq": 64,
                                          "direction": "bidirectional"}),
    "rnn_parallel_projection_columns": ("RNN", {"hidden": 2048, "inp": 2048, "batch": 1, "seq": 4}),
    # GRU
    "gru_forward": ("GRU", {}),
    "gru_lbr": ("GRU", {"linear_before_reset": 1, "init_h": True}),
    "gru_lbr_no_bias": ("GRU", {"linear_before_reset": 1, "bias": False}),
    "gru_bidir": ("GRU", {"direction": "bidirectional", "init_h": True}),
    "gru_reverse_lbr": ("GRU", {"direction": "reverse", "linear_before_reset": 1}),
    "gru_layout1": ("GRU", {"layout": 1, "direction": "bidirectional", "linear_before_reset": 1}),
    "gru_seq_lens": ("GRU", {"batch": 3, "seq_lens": [2, 5, 4], "direction": "bidirectional"}),
    "gru_only_y_h": ("GRU", {"outputs": (False, True)}),
    "gru_clip": ("GRU", {"clip": 0.4}),
    "gru_activations": ("GRU", {**act_attrs(["HardSigmoid", "Elu"])}),
    "gru_weights_as_inputs": ("GRU", {"weights_as_inputs": True, "linear_before_reset": 1}),
    "gru_wide": ("GRU", {"hidden": 40, "inp": 17, "batch": 1, "seq": 7, "direction": "bidirectional"}),
    # RNN
    "rnn_forward": ("RNN", {}),
    "rnn_bidir": ("RNN", {"direction": "bidirectional", "init_h": True}),
    "rnn_reverse_layout1": ("RNN", {"direction": "reverse", "layout": 1, "init_h": True}),
    "rnn_seq_lens": ("RNN", {"batch": 4, "seq_lens": [5, 0, 1, 3], "direction": "bidirectional"}),
    "rnn_only_y": ("RNN", {"outputs": (True, False)}),
    "rnn_only_y_h": ("RNN", {"outputs": (False, True)}),
    "rnn_clip": ("RNN", {"clip": 0.3}),
    "rnn_bidir_two_acts": ("RNN", {"direction": "bidirectional", **act_attrs(["Relu", "Affine"])}),
    **{f"rnn_act_{a.lower()}": ("RNN", act_attrs([a])) for a in ACTS},
}


def to_layout1(outputs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.ascontiguousarray(o.transpose(2, 0, 1, 3) if o.ndim == 4 else o.transpose(1, 0, 2)) for o in outputs]


@pytest.mark.parametrize("case", sorted(CASES))
def test_cell_against_ort(case: str, tmp_path: Path) -> None:
    op, kwargs = CASES[case]
    model, feeds = cell_case(op, **kwargs)  # type: ignore[arg-type]
    if kwargs.get("layout", 0) == 0:
        check(model, feeds, tmp_path)
        return
    # ONNX Runtime refuses layout 1 ("batchwise recurrent operations"): the reference is the layout-0 node on
    # the same (transposed) data, its outputs transposed back
    ref_model, ref_feeds = cell_case(op, **{**kwargs, "layout": 0})  # type: ignore[arg-type]
    expected = to_layout1(ort_run(ref_model, ref_feeds))
    path = convert_model(model, tmp_path)
    for isa in engine.available_isas():
        for threads in (1, 2):
            got = engine.Session(path, threads=threads, isa=isa).run(None, feeds)
            assert len(got) == len(expected)
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5, err_msg=f"{isa} {threads}")


def test_seq_lens_zero_tail_and_state(tmp_path: Path) -> None:
    """Past a sequence's end Y is zero and Y_h is the state at its last step (checked against NumPy too)."""
    model, feeds = cell_case("RNN", batch=2, seq_lens=[2, 4], seq=4)
    path = convert_model(model, tmp_path)
    y, y_h = engine.Session(path, threads=1).run(None, feeds)
    assert np.all(y[2:, :, 0] == 0) and np.any(y[:2, :, 0] != 0)
    np.testing.assert_array_equal(y_h[0, 0], y[1, 0, 0])
    np.testing.assert_array_equal(y_h[0, 1], y[3, 0, 1])


def test_lstm_numpy_reference(tmp_path: Path) -> None:
    """The ONNX equations written out in NumPy (forward, peepholes, biases, initial state)."""
    model, feeds = cell_case("LSTM", peep=True, init_h=True, init_c=True, seq=4, batch=2, inp=3, hidden=5)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    w, rr, b, p = inits["W"][0], inits["R"][0], inits["B"][0], inits["P"][0]
    hid = 5
    h, c = feeds["h0"][0], feeds["c0"][0]

    def sig(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    ys = []
    for t in range(4):
        gts = feeds["x"][t] @ w.T + h @ rr.T + b[: 4 * hid] + b[4 * hid:]
        gi, go, gf, gc = (gts[:, k * hid:(k + 1) * hid] for k in range(4))
        i = sig(gi + p[:hid] * c)
        f = sig(gf + p[2 * hid:] * c)
        c = f * c + i * np.tanh(gc)
        o = sig(go + p[hid:2 * hid] * c)
        h = o * np.tanh(c)
        ys.append(h)
    got = engine.Session(convert_model(model, tmp_path), threads=1).run(None, feeds)
    np.testing.assert_allclose(got[0][:, 0], np.stack(ys), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[2][0], c, rtol=1e-4, atol=1e-5)


def test_nan_propagates(tmp_path: Path) -> None:
    model, feeds = cell_case("GRU", batch=2)
    feeds["x"][0, 1, 0] = np.nan
    y, y_h = engine.Session(convert_model(model, tmp_path), threads=1).run(None, feeds)
    assert np.all(np.isnan(y_h[0, 1])) and not np.any(np.isnan(y_h[0, 0]))


# ---- torch sequence classifiers through the converter's default passes -------------------------------


class SeqClassifier(nn.Module):
    def __init__(self, kind: str, bidirectional: bool, inp: int = 12, hidden: int = 16, classes: int = 5) -> None:
        super().__init__()
        cls = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = cls(inp, hidden, num_layers=2, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class FinalStateClassifier(nn.Module):
    """Reads the final states (Y_h) instead of Y: the exported node's Y feeds only the next layer."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        cls = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = cls(10, 12, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(x)
        h = state[0] if self.kind == "lstm" else state
        return self.fc(h[-1] + h[-2])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_torch_classifier(kind: str, bidirectional: bool, tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = SeqClassifier(kind, bidirectional)
    src = to_onnx(model, torch.randn(2, 9, 12), tmp_path / "m.onnx")
    dst = tmp_path / "m.slm"
    report = export.convert_model(src, dst)
    assert report.ops_after[kind.upper()] == 2
    # the zero initial state torch builds from the batch size is dropped (recurrent_zero_state)
    assert report.ops_before["ConstantOfShape"] >= 1 and report.ops_after["ConstantOfShape"] == 0
    onnx_model = onnx.load(src)
    for batch in (2, 3):
        x = rng.standard_normal((batch, 9, 12)).astype(np.float32)
        (expected,) = ort_run(onnx_model, {"input": x})
        with torch.no_grad():
            np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
        for isa in engine.available_isas():
            for threads in (1, 2):
                (got,) = engine.Session(dst, threads=threads, isa=isa).run(None, {"input": x})
                np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"{isa} {threads}")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_torch_final_state(kind: str, tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = FinalStateClassifier(kind)
    src = to_onnx(model, torch.randn(7, 2, 10), tmp_path / "m.onnx", dynamic_batch=False)
    dst = tmp_path / "m.slm"
    export.convert_model(src, dst)
    x = rng.standard_normal((7, 2, 10)).astype(np.float32)
    (expected,) = ort_run(onnx.load(src), {"input": x})
    for isa in engine.available_isas():
        (got,) = engine.Session(dst, threads=2, isa=isa).run(None, {"input": x})
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=isa)


# ---- bad input ---------------------------------------------------------------------------------------


def test_weight_shape_disagrees_with_hidden_size(tmp_path: Path) -> None:
    model, _ = cell_case("LSTM", hidden=8)
    for a in model.graph.node[0].attribute:
        if a.name == "hidden_size":
            a.i = 6
    with pytest.raises(export.ModelFormatError, match=r"(?s)LSTM.*W has shape"):
        convert_model(model, tmp_path)


def test_seq_lens_out_of_range_is_an_error(tmp_path: Path) -> None:
    model, feeds = cell_case("GRU", batch=2, seq_lens=[5, 5])
    sess = engine.Session(convert_model(model, tmp_path), threads=1)
    for bad in ([6, 1], [-1, 2], [2, 2**31 - 1]):
        with pytest.raises(engine.EngineError, match=r"sequence_lens\[\d\] = -?\d+ is out of range"):
            sess.run(None, {**feeds, "sl": np.array(bad, np.int32)})


def test_unknown_activation_is_refused(tmp_path: Path) -> None:
    model, _ = cell_case("RNN", activations=["Swish"])
    with pytest.raises(export.ModelFormatError, match=r"(?s)RNN.*activations.*unknown activation 'Swish'"):
        convert_model(model, tmp_path)


def test_wrong_direction_is_refused(tmp_path: Path) -> None:
    model, _ = cell_case("GRU")
    for a in model.graph.node[0].attribute:
        if a.name == "direction":
            a.s = b"sideways"
    with pytest.raises(export.ModelFormatError, match=r"(?s)GRU.*direction.*sideways"):
        convert_model(model, tmp_path)


def test_wrong_activation_count_is_refused(tmp_path: Path) -> None:
    model, _ = cell_case("LSTM", activations=["Sigmoid", "Tanh"])
    with pytest.raises(export.ModelFormatError, match=r"(?s)LSTM.*'activations' has 2 names, expected 3"):
        convert_model(model, tmp_path)


def test_zero_state_pass_keeps_a_nonzero_state(tmp_path: Path) -> None:
    """A ConstantOfShape state of another value stays an input (and the result still matches ONNX Runtime)."""
    model, feeds = cell_case("GRU", batch=2, hidden=8)
    shape = helper.make_tensor("shape", T.INT64, [3], [1, 2, 8])
    for value, kept in ((0.0, False), (0.5, True)):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        m.graph.initializer.append(shape)
        m.graph.node.insert(0, helper.make_node("ConstantOfShape", ["shape"], ["h0"],
                                                value=helper.make_tensor("v", T.FLOAT, [1], [value])))
        m.graph.node[1].input.extend(["", "h0"])
        graph = prepare_graph(m).graph
        (node,) = [n for n in graph.nodes if n.op_type == "GRU"]
        assert (len(node.inputs) > 5 and node.inputs[5] != "") == kept
        check(m, feeds, tmp_path, optimize=True)
