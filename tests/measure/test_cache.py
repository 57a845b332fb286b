"""The latency cache: keyed by the model file's content, free on a hit, safe with a broken entry."""

from __future__ import annotations

import json

import pytest

import engine
from measure import CacheCorruptWarning, LatencyCache, TimingProtocol, default_cache_dir, export_model, measure_file
from tests.measure.conftest import tiny_cnn, tiny_input

QUICK = TimingProtocol(warmup=0, min_runs=2, min_time_s=0.0, rounds=1)


@pytest.fixture
def sessions(monkeypatch):
    """Counts the engine sessions opened on model files (measurements); the converter's in-memory load check
    of the bytes it is about to write is not a measurement."""
    opened = []
    real = engine.Session

    def counting(*args, **kwargs):
        model = args[0] if args else kwargs.get("model")
        if not isinstance(model, (bytes, bytearray, memoryview)):
            opened.append(model)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "Session", counting)
    return opened


def test_a_hit_opens_no_session_and_other_keys_miss(tiny_files, sessions, tmp_path):
    cache = LatencyCache(tmp_path / "cache")
    first = measure_file("slimlab", tiny_files.slm, 1, protocol=QUICK, cache=cache)
    assert len(sessions) == 1 and len(list(cache.directory.glob("*.json"))) == 1
    again = measure_file("slimlab", tiny_files.slm, 1, protocol=QUICK, cache=cache)
    assert len(sessions) == 1 and again == first
    # another thread count or protocol is another key
    measure_file("slimlab", tiny_files.slm, 2, protocol=QUICK, cache=cache)
    measure_file("slimlab", tiny_files.slm, 1, protocol=TimingProtocol(warmup=0, min_runs=3, min_time_s=0, rounds=1),
                 cache=cache)
    assert len(sessions) == 3


def test_the_key_is_the_file_content_not_its_name(tiny_files, sessions, tmp_path):
    cache = LatencyCache(tmp_path / "cache")
    copy = tmp_path / "renamed.slm"
    copy.write_bytes(tiny_files.slm.read_bytes())
    measure_file("slimlab", tiny_files.slm, protocol=QUICK, cache=cache)
    measure_file("slimlab", copy, protocol=QUICK, cache=cache)
    assert len(sessions) == 1  # same bytes: a hit
    wider = export_model(tiny_cnn(width=16), tiny_input(), tmp_path, "wider")
    measure_file("slimlab", wider.slm, protocol=QUICK, cache=cache)
    assert len(sessions) == 2  # other bytes: a miss


def test_a_corrupt_entry_is_measured_again_and_replaced(tiny_files, sessions, tmp_path):
    cache = LatencyCache(tmp_path / "cache")
    measure_file("slimlab", tiny_files.slm, protocol=QUICK, cache=cache)
    (entry,) = cache.directory.glob("*.json")
    entry.write_text('{"measurement": {"median_ms": ')  # a write cut short by hand
    with pytest.warns(CacheCorruptWarning, match="unreadable"):
        m = measure_file("slimlab", tiny_files.slm, protocol=QUICK, cache=cache)
    assert len(sessions) == 2 and m.median_ms > 0
    assert json.loads(entry.read_text())["measurement"]["median_ms"] == m.median_ms
    assert json.loads(entry.read_text())["key"]["runner"] == "slimlab"


def test_the_default_location_follows_the_environment(private_cache, monkeypatch, tmp_path):
    assert default_cache_dir() == private_cache and LatencyCache().directory == private_cache
    monkeypatch.delenv("SLIMLAB_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "slimlab" / "latency"


def test_the_key_records_machine_runner_version_and_shape(tiny_files, tmp_path):
    fields = LatencyCache(tmp_path).key_fields(tiny_files.slm, "slimlab", "v1", 2, (1, 1, 16, 16), QUICK)
    assert fields["machine"]["cpu"] and fields["runner_version"] == "v1" and fields["input_shape"] == [1, 1, 16, 16]
    other = LatencyCache(tmp_path).key_fields(tiny_files.slm, "slimlab", "v2", 2, (1, 1, 16, 16), QUICK)
    assert LatencyCache.key(fields) != LatencyCache.key(other)
