from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from configs.registry import UnknownNameError
from configs.schema import register_configs
from lightweight_models import create_model

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "configs")


def compose_cfg(overrides: list[str] | None = None, name: str = "default"):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=overrides or [])


def test_default_composes_with_interpolated_geometry():
    cfg = compose_cfg()
    assert cfg.data.name == "fashion_mnist" and cfg.model.name == "simple_cnn"
    assert cfg.data.image_size == cfg.model.input_size == 28
    assert cfg.data.channels == cfg.model.in_chans == 1
    assert cfg.tracking.mode.value == "offline"
    assert list(cfg.pipeline) == ["train", "export", "measure"]


def test_overrides_and_groups():
    cfg = compose_cfg(["train.epochs=3", "train=adamw", "train.optimizer.lr=0.01", "model.input_size=32"])
    assert cfg.train.optimizer.name == "adamw" and cfg.train.optimizer.lr == 0.01
    assert cfg.train.epochs == 3
    assert cfg.data.image_size == 32


def test_misspelled_key_fails_before_work():
    with pytest.raises(ConfigCompositionException) as info:
        compose_cfg(["train.epoch=3"])
    assert "epoch" in str(info.value.__cause__) and "TrainConfig" in str(info.value.__cause__)


def test_wrong_type_fails():
    with pytest.raises(ConfigCompositionException) as info:
        compose_cfg(["train.epochs=many"])
    assert "many" in str(info.value.__cause__)


def test_invalid_tracking_mode_fails():
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose_cfg(["tracking.mode=cloud"])
    assert "cloud" in str(info.value.__cause__ or info.value)


def test_unknown_group_option_lists_choices():
    with pytest.raises(ConfigCompositionException, match="simple_cnn"):
        compose_cfg(["model=resnet9000"])


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as info:
        create_model("simple_cn")
    assert "Did you mean: simple_cnn" in str(info.value) and "Valid model names" in str(info.value)


def test_unknown_data_name_lists_valid_names():
    from experiments.data import build_data

    cfg = compose_cfg(["data.name=fashion_mnits"])
    with pytest.raises(UnknownNameError) as info:
        build_data(cfg.data)
    assert "fashion_mnist" in str(info.value) and "synthetic" in str(info.value)


def test_every_yaml_in_every_group_composes():
    groups = ["data", "model", "train", "tracking"]
    for group in groups:
        for path in sorted((Path(CONFIG_DIR) / group).glob("*.yaml")):
            cfg = compose_cfg([f"{group}={path.stem}"])
            OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


def test_every_compress_method_config_composes():
    paths = sorted((Path(CONFIG_DIR) / "compress").glob("*.yaml"))
    assert len(paths) >= 10
    for path in paths:
        cfg = compose_cfg([f"compress={path.stem}"], name="compress")
        assert cfg.compress.method, path.stem
        OmegaConf.to_container(cfg, resolve=True)
