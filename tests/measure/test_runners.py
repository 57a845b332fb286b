"""The runner registry and the runners on a tiny real model."""

from __future__ import annotations

import numpy as np
import pytest

from configs.registry import UnknownNameError
from measure import RUNNERS, RunnerUnavailableError, open_runner
from measure.runners.base import MODEL_KINDS, InputSpec, resolve_shape
from measure.runners.openvino import OpenVinoRunner
from measure.runners.pytorch import save_pt2
from tests.measure.conftest import tiny_cnn, tiny_input


def test_every_backend_is_registered_once_by_name():
    assert {"slimlab", "onnxruntime", "openvino", "pytorch"} <= set(RUNNERS.names())
    assert {RUNNERS.get(n).model_kind for n in RUNNERS.names()} <= set(MODEL_KINDS)


def test_an_unknown_runner_lists_the_valid_ones(tiny_files):
    with pytest.raises(UnknownNameError) as info:
        open_runner("onnxruntim", tiny_files.onnx)
    message = str(info.value)
    assert "Did you mean: onnxruntime" in message and "slimlab" in message and "pytorch" in message


def test_a_missing_optional_runner_says_what_to_install(tiny_files, monkeypatch):
    monkeypatch.setattr(OpenVinoRunner, "requires", "no_such_module_for_slimlab_tests")
    assert not OpenVinoRunner.available()
    with pytest.raises(RunnerUnavailableError, match=r"openvino.*not available.*\.\[bench\]"):
        open_runner("openvino", tiny_files.onnx)
    assert issubclass(RunnerUnavailableError, ImportError)  # callers that degrade without the engine keep working


def test_engine_onnxruntime_and_pytorch_agree_on_a_tiny_model(tiny_files, tmp_path):
    model, x = tiny_cnn(), tiny_input()
    with model_runners(tiny_files, model, x, tmp_path) as runners:
        slimlab = runners[0]
        feeds = slimlab.example_feeds(seed=3)
        assert [s for r in runners for s in r.input_shapes] == [(1, 1, 16, 16)] * len(runners)
        assert [r.input_names for r in runners] == [["input"]] * len(runners)
        ref = slimlab.run(feeds)[0]
        assert ref.shape == (1, 10) and np.abs(ref).max() > 1e-3
        for runner in runners[1:]:
            # the same seed gives every runner the same data
            (got,) = runner.run(runner.example_feeds(seed=3))
            np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4, err_msg=runner.name)
    engine = open_runner("slimlab", tiny_files.slm)
    engine.run(engine.example_feeds())  # the arena is planned by the first run
    info = engine.info()
    assert info["arena_bytes"] > 0 and info["weights_bytes"] > 0 and info["isa"]


class model_runners:
    """slimlab, onnxruntime, pytorch (in memory) and pytorch (.pt2) over the same model, closed on exit."""

    def __init__(self, files, model, x, tmp_path) -> None:
        pt2 = save_pt2(model, x, tmp_path / "tiny.pt2")
        self.runners = [open_runner("slimlab", files.slm, threads=1), open_runner("onnxruntime", files.onnx, 2),
                        open_runner("pytorch", model, 1, input_shape=x.shape), open_runner("pytorch", pt2)]

    def __enter__(self):
        return self.runners

    def __exit__(self, *exc) -> None:
        for r in self.runners:
            r.close()


def test_an_in_memory_module_needs_an_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        open_runner("pytorch", tiny_cnn())


def test_threads_must_be_positive(tiny_files):
    with pytest.raises(ValueError, match="threads"):
        open_runner("slimlab", tiny_files.slm, threads=0)


def test_symbolic_dims_take_the_given_shape_and_a_batch_defaults_to_one():
    assert resolve_shape("x", ["N", 3, 8, 8], None) == (1, 3, 8, 8)
    assert resolve_shape("x", ["N", 3, "H", "W"], [2, 3, 5, 5]) == (2, 3, 5, 5)
    # left open for callers with their own feeds; drawing example inputs asks for the shape
    assert resolve_shape("x", ["N", 3, "H", "W"], None) == (1, 3, None, None)
    with pytest.raises(ValueError, match="symbolic.*input_shape"):
        InputSpec("x", (1, 3, None, None), "float32").static_shape()
    with pytest.raises(ValueError, match="contradicts"):
        resolve_shape("x", [1, 3, 8, 8], [1, 3, 9, 9])
    with pytest.raises(ValueError, match="rank"):
        resolve_shape("x", [1, 3, 8, 8], [3, 8, 8])
