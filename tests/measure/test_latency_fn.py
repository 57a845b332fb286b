"""``measure.latency_fn``: nn.Module -> engine milliseconds, what NetAdapt (and later NAS) calls."""

from __future__ import annotations

import pytest

import engine
from compression.pruning import netadapt, prune_structured
from measure import LatencyCache, TimingProtocol, latency_fn
from tests.compression.pruning.helpers import small_input, small_model

QUICK = TimingProtocol(warmup=1, min_runs=3, min_time_s=0.0, rounds=1)


def test_latency_fn_measures_the_pruned_model_on_the_bundled_engine(tmp_path, monkeypatch):
    cnn, x = small_model("simple_cnn"), small_input()
    measure = latency_fn(x, protocol=QUICK, cache=LatencyCache(tmp_path))
    pruned = prune_structured(cnn, x, 0.5).model
    dense_ms, pruned_ms = measure(cnn), measure(pruned)
    assert dense_ms > 0 and pruned_ms > 0
    assert len(list(tmp_path.glob("*.json"))) == 2

    # the same network again (NAS asks for the same candidate many times): exported, hashed, not run
    real = engine.Session

    def no_session(*args, **kwargs):
        model = args[0] if args else kwargs.get("model")
        # the converter loads the bytes it writes once (a check, not a measurement); a measurement opens the file
        if isinstance(model, (bytes, bytearray, memoryview)):
            return real(*args, **kwargs)
        raise AssertionError("a cached latency opened an engine session on the model file")

    monkeypatch.setattr(engine, "Session", no_session)
    assert measure(cnn) == dense_ms


def test_netadapt_takes_latency_fn_as_its_measurement():
    cnn, x = small_model("simple_cnn"), small_input()
    measure = latency_fn(x, protocol=QUICK, cache=False)
    start = measure(cnn)
    # a budget the first measurement already meets: NetAdapt measures once and stops
    result = netadapt(cnn, x, start * 10, measure, lambda m: 1.0, max_steps=1)
    assert result.reached_budget and result.latency_ms_before > 0 and not result.steps


def test_latency_fn_fails_at_creation_for_an_unknown_runner():
    with pytest.raises(KeyError, match="Valid runner names"):
        latency_fn(small_input(), runner="tensorrt")
