"""Small spaces (a few genes, tiny networks) so that the suite builds, trains and measures in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.spaces import SearchSpace, make_space

TINY_MBCONV = dict(stage_channels=[16, 24], stage_strides=[2, 2], stage_hswish=[False, True], depths=[1, 2],
                   kernels=[3, 5], expands=[2, 3], widths=[0.5, 1.0], resolutions=[16, 20], stem_channels=8,
                   head_expand=2, head_hidden=32, small_input=True)
TINY_SHUFFLE = dict(stage_channels=[32, 64], stage_layers=[2, 1], scales=[0.5, 1.0], resolutions=[16],
                    stem_channels=8, head_channels=64, small_input=True)
TINY_MOBILEVIT = dict(stage_channels=[16, 16, 24, 32, 32], dims=[[16, 24], [16, 32], [24, 32]], depths=[1, 2],
                      expands=[2, 3], mlp_ratios=[2], resolutions=[16], stem_channels=8, head_ratio=2,
                      small_input=True)
TINY_UIB = dict(stage_channels=[16, 24], stage_strides=[2, 2], depths=[1, 2], kernels=[3, 5], expands=[2, 3],
                widths=[0.5, 1.0], resolutions=[16, 20], stem_channels=8, head_channels=32, head_hidden=32,
                small_input=True)
TINY = {"mbconv": TINY_MBCONV, "shufflenet": TINY_SHUFFLE, "mobilevit": TINY_MOBILEVIT, "uib": TINY_UIB}


def tiny_space(name: str = "mbconv") -> SearchSpace:
    return make_space(name, **TINY[name])


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # no test reads or fills the user's latency cache
    path = tmp_path / "latency-cache"
    monkeypatch.setenv("SLIMLAB_CACHE_DIR", str(path))
    return path
