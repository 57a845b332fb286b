"""The repository and its configs: parsing, errors that name the file, the instance plan, bad model files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from serving.instances import plan_instances
from serving.metrics import ServerMetrics
from serving.models import LoadFailed, ModelManager, load_version
from serving.repository import ConfigError, DynamicBatching, read_model
from tests.serving.conftest import write_model

FULL_CONFIG = {
    "name": "dense",
    "max_batch_size": 16,
    "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
    "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [3]},
               {"name": "z", "data_type": "TYPE_FP32", "dims": [3]}],
    "dynamic_batching": {"preferred_batch_size": [8, 4], "max_queue_delay_microseconds": 500,
                         "default_queue_policy": {"max_queue_size": 32, "default_timeout_microseconds": 1000}},
    "instance_group": [{"count": 2, "kind": "KIND_CPU"}],
    "parameters": {"intra_op_thread_count": {"string_value": "1"}},
    "version_policy": {"all": {}},
}


def test_a_full_config_parses_into_its_dataclass(tmp_path: Path):
    write_model(tmp_path, "dense", 1, config=FULL_CONFIG)
    write_model(tmp_path, "dense", 3)
    src = read_model(tmp_path, "dense")
    c = src.config
    assert (c.max_batch_size, c.max_queue_size, c.default_timeout_us) == (16, 32, 1000)
    assert c.dynamic_batching == DynamicBatching((4, 8), 500)
    assert (c.instance_count, c.threads_per_instance) == (2, 1)
    assert sorted(src.selected_versions()) == [1, 3]
    assert c.inputs[0].dims == (4,)


@pytest.mark.parametrize("config, message", [
    ({"max_batch_size": "8"}, "max_batch_size must be an integer"),
    ({"max_batchsize": 8}, "unknown keys \\['max_batchsize'\\]"),
    ({"dynamic_batching": {"max_queue_delay_us": 5}}, "unknown keys"),
    ({"instance_group": [{"count": 0}]}, "count must be an integer >= 1"),
    ({"instance_group": [{"kind": "KIND_GPU"}]}, "KIND_CPU only"),
    ({"input": [{"name": "x", "data_type": "TYPE_FLOAT", "dims": [4]}]}, "data_type 'TYPE_FLOAT'"),
    ({"version_policy": {"specific": {"versions": [7]}}}, "versions \\[7\\] that have no folder"),
    ({"name": "other"}, "differs from the model folder"),
    ({"parameters": {"intra_op_thread_count": {"string_value": "two"}}}, "positive integer"),
])
def test_a_bad_config_is_an_error_naming_the_file(tmp_path: Path, config: dict, message: str):
    write_model(tmp_path, "dense", 1, config=config)
    with pytest.raises(ConfigError, match=message) as info:
        read_model(tmp_path, "dense")
    assert str(tmp_path / "dense" / "config.json") in str(info.value)


def test_config_that_contradicts_the_engine_file_is_refused_at_load(tmp_path: Path):
    bad_dims = {"input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [5]}]}
    write_model(tmp_path, "dense", 1, config=bad_dims)
    with pytest.raises(ConfigError, match="input 'x' dims \\[5\\] do not fit the engine file's \\[4\\]"):
        load_version(read_model(tmp_path, "dense"), 1, tmp_path / "dense/1/model.slm", ServerMetrics())
    write_model(tmp_path, "static", 1, config={"max_batch_size": 4}, batch=1)
    with pytest.raises(ConfigError, match="max_batch_size 4 needs a symbolic batch dim 0.*static dim 0 \\(1\\)"):
        load_version(read_model(tmp_path, "static"), 1, tmp_path / "static/1/model.slm", ServerMetrics())


def test_a_corrupt_engine_file_is_an_engine_error_naming_it_and_other_models_load(tmp_path: Path):
    write_model(tmp_path, "good", 1)
    write_model(tmp_path, "corrupt", 1)
    path = tmp_path / "corrupt/1/model.slm"
    path.write_bytes(path.read_bytes()[:100])  # truncated
    (tmp_path / "badjson").mkdir()
    write_model(tmp_path, "badjson", 1)
    (tmp_path / "badjson/config.json").write_text("{not json")
    with pytest.raises(engine.EngineError) as info:
        load_version(read_model(tmp_path, "corrupt"), 1, path, ServerMetrics())
    assert str(path) in str(info.value)

    manager = ModelManager.from_repository(tmp_path)
    errors = manager.load_all()
    assert sorted(errors) == ["badjson", "corrupt"]
    assert str(path) in errors["corrupt"]
    assert str(tmp_path / "badjson/config.json") in errors["badjson"] and "not valid JSON" in errors["badjson"]
    assert manager.resolve("good", None).version == 1
    index = {row["name"]: row for row in manager.index()}
    assert index["good"]["state"] == "READY" and index["corrupt"]["state"] == "UNAVAILABLE"
    assert str(path) in index["corrupt"]["reason"]
    with pytest.raises(LoadFailed, match=str(path)):
        manager.load("corrupt")
    manager.shutdown()


def test_the_instance_plan_fits_the_cores_and_says_why():
    p = plan_instances(None, None, cores=8)
    assert (p.instances, p.threads) == (2, 4) and "default" in p.reason
    p = plan_instances(4, None, cores=8)
    assert (p.instances, p.threads) == (4, 2)
    p = plan_instances(None, 2, cores=8)
    assert (p.instances, p.threads) == (4, 2)
    p = plan_instances(None, None, cores=1)
    assert (p.instances, p.threads) == (1, 1)
    p = plan_instances(3, 3, cores=4)
    assert (p.instances, p.threads) == (3, 3) and "oversubscribed" in p.reason
    assert "sched_getaffinity" in plan_instances(None, None).reason


def test_a_static_batch_model_is_served_without_batching_and_says_so(tmp_path: Path):
    write_model(tmp_path, "static", 1, batch=1)
    manager = ModelManager.from_repository(tmp_path)
    assert manager.load_all() == {}
    mv = manager.resolve("static", None)
    assert mv.config.max_batch_size == 0 and mv.config.dynamic_batching is None
    meta = mv.metadata([1])
    assert meta["inputs"][0]["shape"] == [1, 4]  # the full shape: no batch dim to add
    assert "no batching: 'x' has a static dim 0 (1)" in meta["batching"]["reason"]
    assert json.dumps(mv.config_json())  # the config endpoint's document is JSON
    manager.shutdown()
