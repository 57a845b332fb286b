from __future__ import annotations

import pytest
import torch

from experiments.data import build_data
from experiments.data.transforms import LUMA_WEIGHTS, build_transform, normalization_stats


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 28), (3, 32), (1, 16)])
def test_fashion_mnist_geometry_and_normalization(make_cfg, channels, size):
    bundle = build_data(make_cfg(channels=channels, image_size=size, limit_eval=256))
    x, _ = next(iter(bundle.test_loader))
    assert x.shape == (256, channels, size, size) and x.dtype == torch.float32
    assert type(x) is torch.Tensor
    assert bundle.channels == channels and bundle.image_size == size
    assert len(bundle.mean) == channels == len(bundle.std)
    # normalized with the data set's statistics: zero-ish mean, unit-ish std, bounded range
    assert abs(float(x.mean())) < 0.2 and 0.75 < float(x.std()) < 1.25
    lo, hi = -bundle.mean[0] / bundle.std[0], (1 - bundle.mean[0]) / bundle.std[0]
    assert float(x.min()) >= lo - 1e-4 and float(x.max()) <= hi + 1e-4


def test_gray_to_rgb_replicates_channels(make_cfg):
    bundle = build_data(make_cfg(channels=3, limit_eval=4))
    x, _ = bundle.test[0]
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def test_stats_follow_channel_conversion():
    assert normalization_stats((0.3,), (0.4,), stored=1, requested=3) == ((0.3,) * 3, (0.4,) * 3)
    mean, std = normalization_stats((0.1, 0.5, 0.9), (0.2, 0.2, 0.4), stored=3, requested=1)
    assert mean[0] == pytest.approx(sum(w * m for w, m in zip(LUMA_WEIGHTS, (0.1, 0.5, 0.9))))
    assert len(std) == 1 and 0.2 <= std[0] <= 0.4
    with pytest.raises(ValueError, match=r"cannot convert 1-channel images to data.channels=4"):
        normalization_stats((0.3,), (0.4,), stored=1, requested=4)


def test_rgb_to_gray_uses_luminance():
    image = torch.zeros(3, 4, 4, dtype=torch.uint8)
    image[1] = 255  # pure green
    tf = build_transform(stored_channels=3, stored_size=4, channels=1, size=4, mean=(0.0,), std=(1.0,))
    out = tf(image)
    assert out.shape == (1, 4, 4)
    assert float(out.mean()) == pytest.approx(LUMA_WEIGHTS[1], abs=0.01)


def test_augmentation_only_on_train(make_cfg):
    cfg = make_cfg(augment__random_crop_padding=4, augment__hflip=True, limit_train=8, limit_eval=8)
    bundle = build_data(cfg)
    torch.manual_seed(0)
    train_views = [bundle.train[0][0] for _ in range(6)]
    assert any(not torch.equal(train_views[0], v) for v in train_views[1:])
    assert torch.equal(bundle.val[0][0], bundle.val[0][0])


def test_hflip_rejected_where_it_changes_labels(make_cfg):
    with pytest.raises(ValueError, match=r"hflip=true is invalid for data set 'digits'"):
        build_data(make_cfg(name="digits", augment__hflip=True))


def test_negative_padding_rejected(make_cfg):
    with pytest.raises(ValueError, match="random_crop_padding must be >= 0"):
        build_data(make_cfg(name="synthetic", augment__random_crop_padding=-1))


@pytest.mark.parametrize(("key", "value"), [("image_size", 0), ("batch_size", 0), ("num_workers", -1)])
def test_bad_geometry_or_loader_settings(make_cfg, key, value):
    with pytest.raises(ValueError, match=f"data.{key} must be an integer"):
        build_data(make_cfg(name="synthetic", **{key: value}))


def test_unresolved_interpolation_is_explained():
    from configs.schema import DataConfig

    with pytest.raises(ValueError, match="unresolved interpolation"):
        build_data(DataConfig(name="synthetic"))
