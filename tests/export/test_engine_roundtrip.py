"""The converter's files against the real C++ loader: the FORMAT.md contract from both sides.

Uses only ops the runtime registered first (Conv, Relu, Add) so that it checks
the file format, not op coverage.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.export.helpers import init, make_model, run, tensor_in


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Identity", ["r"], ["r2"]),
        helper.make_node("Add", ["r2", "bias"], ["y"]),
    ]
    inits = [init("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
             init("b", rng.standard_normal(4).astype(np.float32)),
             init("bias", rng.standard_normal((1, 4, 1, 1)).astype(np.float32))]
    return make_model(nodes, [tensor_in("x", ["batch", 3, 6, 6])], [tensor_in("y", ["batch", 4, 6, 6])], inits)


@pytest.mark.parametrize("weights,atol", [("fp32", 1e-5), ("fp16", 2e-2)])
def test_cli_file_runs_in_the_engine(tmp_path, weights, atol):
    import engine

    src = tmp_path / "m.onnx"
    onnx.save(_model(), src)
    out = tmp_path / "m.slm"
    proc = subprocess.run([sys.executable, "-m", "export.convert", str(src), "-o", str(out), "--report",
                           "--weights", weights], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Relu into Conv 1" in proc.stdout
    sess = engine.Session(str(out))
    assert sess.inputs[0].shape == ("batch", 3, 6, 6)
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 6, 6)).astype(np.float32)
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], run(_model(), {"x": x})[0], rtol=0, atol=atol)
