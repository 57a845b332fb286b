from __future__ import annotations

import pytest
import torch

from experiments.data import build_data
from experiments.data.splits import cap, carve_val


def test_same_seed_same_split_different_seed_different():
    train_a, val_a = carve_val(1000, 0.2, seed=3)
    train_b, val_b = carve_val(1000, 0.2, seed=3)
    _, val_c = carve_val(1000, 0.2, seed=4)
    assert torch.equal(val_a, val_b) and torch.equal(train_a, train_b)
    assert not torch.equal(val_a, val_c)


def test_split_is_a_partition_of_train():
    train, val = carve_val(1000, 0.15, seed=0)
    assert len(val) == 150
    assert not set(train.tolist()) & set(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(1000))


def test_split_ignores_and_keeps_global_rng():
    torch.manual_seed(1)
    before = torch.get_rng_state()
    _, val_a = carve_val(100, 0.3, seed=0)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(99)
    _, val_b = carve_val(100, 0.3, seed=0)
    assert torch.equal(val_a, val_b)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_bad_val_fraction(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        carve_val(100, fraction, seed=0)


def test_cap_is_deterministic_subset():
    indices = torch.arange(10, 110)
    a, b = cap(indices, 20, seed=0), cap(indices, 20, seed=0)
    assert torch.equal(a, b) and len(a) == 20
    assert set(a.tolist()) <= set(indices.tolist())
    assert not torch.equal(a, indices[:20])
    assert torch.equal(cap(indices, None, seed=0), indices)
    assert torch.equal(cap(indices, 500, seed=0), indices)
    with pytest.raises(ValueError, match="positive integer"):
        cap(indices, 0, seed=0)


def test_bundle_split_determinism(make_cfg):
    opts = {"num_samples": 200, "num_classes": 3}
    a = build_data(make_cfg(name="synthetic", options=opts, split_seed=5, val_fraction=0.25))
    b = build_data(make_cfg(name="synthetic", options=opts, split_seed=5, val_fraction=0.25))
    c = build_data(make_cfg(name="synthetic", options=opts, split_seed=6, val_fraction=0.25))
    assert torch.equal(a.val.indices, b.val.indices)
    assert not torch.equal(a.val.indices, c.val.indices)
    assert len(a.val) == 50 and len(a.train) == 150
    assert sorted(a.train.indices.tolist() + a.val.indices.tolist()) == list(range(200))


def test_limits_cap_each_split(make_cfg):
    bundle = build_data(make_cfg(name="synthetic", options={"num_samples": 200}, limit_train=30, limit_eval=7))
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (30, 7, 7)


def test_train_loader_shuffles_with_global_rng(make_cfg):
    bundle = build_data(make_cfg(name="synthetic", options={"num_samples": 64}, batch_size=64))
    loader = bundle.train_loader
    assert loader.generator is None and not loader.drop_last

    def first_labels():
        return next(iter(loader))[1]

    torch.manual_seed(0)
    a = first_labels()
    torch.manual_seed(0)
    b = first_labels()
    torch.manual_seed(1)
    c = first_labels()
    assert torch.equal(a, b) and not torch.equal(a, c)
    val_labels = [next(iter(bundle.val_loader))[1] for _ in range(2)]
    assert torch.equal(val_labels[0], bundle.val.targets) and torch.equal(val_labels[1], bundle.val.targets)


def test_val_fraction_that_leaves_no_training_data(make_cfg):
    with pytest.raises(ValueError, match="leaves no training samples out of 3"):
        carve_val(3, 0.9, seed=0)
