"""The family configs (configs/model/*.yaml) of ShuffleNet, SqueezeNet, MobileViT and
EfficientFormer validate against the model schema and build a working model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from configs.schema.model import ModelConfig
from lightweight_models import create_model, list_models

_CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "model"


@pytest.mark.parametrize("family", ["shufflenetv1", "shufflenetv2", "squeezenet", "mobilevit", "efficientformer"])
def test_family_config_builds_its_model(family: str) -> None:
    raw = OmegaConf.load(_CONFIG_DIR / f"{family}.yaml")
    assert list(raw.pop("defaults")) == ["base_model", "_self_"]
    cfg = OmegaConf.merge(OmegaConf.structured(ModelConfig), raw)
    assert cfg.name in list_models(f"{family}*")
    model = create_model(
        cfg.name, num_classes=10, in_chans=cfg.in_chans, input_size=cfg.input_size,
        small_input=cfg.small_input, width_mult=cfg.width_mult, drop_rate=cfg.drop_rate, **cfg.kwargs,
    ).eval()
    with torch.no_grad():
        out = model(torch.randn(2, cfg.in_chans, cfg.input_size, cfg.input_size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_all_models_of_these_families_are_registered() -> None:
    expected = {f"shufflenetv1_g{g}" for g in (1, 2, 3, 4, 8)}
    expected |= {f"shufflenetv2_{v}" for v in ("x0_5", "x1_0", "x1_5", "x2_0")}
    expected |= {"squeezenet1_0", "squeezenet1_1", "mobilevit_xxs", "mobilevit_xs", "mobilevit_s"}
    expected |= {"efficientformer_l1"}
    assert expected <= set(list_models())
