from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from configs.registry import UnknownNameError
from experiments.data import DATASETS, build_data
from experiments.data.registry import import_datasets
from experiments.data.sets import cifar, digits


def test_unknown_name_lists_valid_names(make_cfg):
    with pytest.raises(UnknownNameError) as info:
        build_data(make_cfg(name="fashion_mnst"))
    message = str(info.value)
    assert "Unknown data set 'fashion_mnst'" in message and "Did you mean: fashion_mnist" in message
    for name in ("cifar10", "cifar100", "digits", "fashion_mnist", "imagefolder", "synthetic"):
        assert name in message


def test_unknown_option_is_rejected(make_cfg):
    with pytest.raises(ValueError, match=r"'synthetic' has no option\(s\) \['num_clases'\]; valid options: "):
        build_data(make_cfg(name="synthetic", options={"num_clases": 3}))
    with pytest.raises(ValueError, match=r"'digits' has no option"):
        build_data(make_cfg(name="digits", options={"x": 1}))


def test_synthetic_is_deterministic(make_cfg):
    cfg = make_cfg(name="synthetic", channels=3, image_size=12, options={"num_samples": 40, "num_classes": 4})
    a, b = build_data(cfg), build_data(cfg)
    assert a.num_classes == 4 and a.class_names[0] == "class_0"
    for i in (0, 5, len(a.test) - 1):
        assert torch.equal(a.test[i][0], b.test[i][0]) and a.test[i][1] == b.test[i][1]
    assert torch.equal(a.train[3][0], a.train[3][0])
    assert a.mean == b.mean and a.test[0][0].shape == (3, 12, 12)
    other = build_data(make_cfg(name="synthetic", channels=3, image_size=12,
                                options={"num_samples": 40, "num_classes": 4, "seed": 1}))
    assert not torch.equal(a.test[0][0], other.test[0][0])
    # the test split is generated from its own stream, not a copy of train
    assert not torch.equal(a.test[0][0], a.train[0][0])


def test_synthetic_is_learnable(make_cfg):
    torch.manual_seed(0)
    cfg = make_cfg(name="synthetic", image_size=8, batch_size=32,
                   options={"num_samples": 320, "num_classes": 4, "noise": 0.3})
    bundle = build_data(cfg)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in bundle.train_loader:  # one epoch: 9 steps
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    x, y = next(iter(bundle.test_loader))
    accuracy = float((model(x).argmax(1) == y).float().mean())
    assert accuracy > 0.6  # chance is 0.25


def test_digits(make_cfg):
    bundle = build_data(make_cfg(name="digits", image_size=8, val_fraction=0.1))
    assert bundle.num_classes == 10
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 1797
    assert len(bundle.test) == round(1797 * digits.TEST_FRACTION)
    # the official-test stand-in does not move with split_seed
    other = build_data(make_cfg(name="digits", image_size=8, split_seed=9))
    assert torch.equal(bundle.test[0][0], other.test[0][0])
    x, y = next(iter(bundle.test_loader))
    assert x.shape[1:] == (1, 8, 8) and abs(float(x.mean())) < 0.2


def test_digits_rejects_non_finite(monkeypatch, make_cfg):
    images = np.zeros((10, 8, 8))
    images[2, 3, 4] = np.nan
    monkeypatch.setattr(digits, "_load_digits", lambda: (images, np.arange(10)))
    digits._decode.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"sklearn digits: 1 non-finite"):
            build_data(make_cfg(name="digits", image_size=8))
    finally:
        digits._decode.cache_clear()


def _write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_imagefolder(tmp_path, make_cfg):
    colors = {"blue": (0, 0, 255), "red": (255, 0, 0)}
    for split, count in (("train", 5), ("val", 2)):
        for cls, color in colors.items():
            for i in range(count):
                _write_png(tmp_path / split / cls / f"{i}.png", color, (20 + i, 14))
    bundle = build_data(make_cfg(name="imagefolder", root=str(tmp_path), channels=3, image_size=10,
                                 val_fraction=0.2))
    assert bundle.class_names == ["blue", "red"] and bundle.num_classes == 2
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (8, 2, 4)
    x, y = next(iter(bundle.test_loader))
    assert x.shape == (4, 3, 10, 10) and y.tolist() == [0, 0, 1, 1]
    # a red image is brightest in channel 0 after normalization, a blue one in channel 2
    assert x[2, 0].mean() > x[2, 2].mean() and x[0, 2].mean() > x[0, 0].mean()
    gray = build_data(make_cfg(name="imagefolder", root=str(tmp_path), channels=1, image_size=10))
    assert gray.test[0][0].shape == (1, 10, 10) and len(gray.mean) == 1


def test_imagefolder_missing_parts(tmp_path, make_cfg):
    with pytest.raises(ValueError, match="imagefolder needs data.root"):
        build_data(make_cfg(name="imagefolder", channels=3))
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'val'} does not exist"):
        build_data(make_cfg(name="imagefolder", root=str(tmp_path), channels=3))


def test_cifar10_missing_root_fails_clearly(tmp_path, make_cfg):
    missing = tmp_path / "no-cifar"
    with pytest.raises(FileNotFoundError, match=rf"cifar10: data.root {missing} does not exist"):
        build_data(make_cfg(name="cifar10", root=str(missing), channels=3, image_size=32))
    with pytest.raises(FileNotFoundError, match=rf"cifar10 not found or corrupt under {tmp_path}"):
        build_data(make_cfg(name="cifar10", root=str(tmp_path), channels=3, image_size=32))


def test_cifar_arrays_become_chw_tensors(tmp_path, monkeypatch, make_cfg):
    class FakeCIFAR10:
        base_folder = "cifar-10-batches-py"

        def __init__(self, root, train, download):
            n = 20 if train else 6
            self.data = np.full((n, 32, 32, 3), (10, 20, 30), dtype=np.uint8)
            self.targets = [i % 10 for i in range(n)]
            self.classes = [f"c{i}" for i in range(10)]

    monkeypatch.setattr(cifar.tv_datasets, "CIFAR10", FakeCIFAR10)
    cifar._decode.cache_clear()
    try:
        bundle = build_data(make_cfg(name="cifar10", root=str(tmp_path), channels=3, image_size=32))
        assert bundle.mean == cifar._STATS["cifar10"][0] and bundle.class_names[3] == "c3"
        assert len(bundle.test) == 6 and len(bundle.train) + len(bundle.val) == 20
        image = bundle.test.base[0][0]
        assert image.shape == (3, 32, 32) and image[:, 0, 0].tolist() == [10, 20, 30]
    finally:
        cifar._decode.cache_clear()


def test_yaml_configs_match_registry():
    from hydra import compose, initialize_config_dir

    from configs.schema import register_configs

    import_datasets()
    register_configs()
    config_dir = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(p.stem for p in (config_dir / "data").glob("*.yaml"))
    assert files == DATASETS.names()
    with initialize_config_dir(str(config_dir), version_base="1.3"):
        for name in files:
            cfg = compose(config_name=f"data/{name}")["data"]
            assert cfg.name == name
            if cfg.augment.hflip:
                assert DATASETS.meta(name)["hflip_preserves_label"]


def test_every_data_set_module_is_in_the_explicit_import_list():
    import experiments.data.sets as pkg

    modules = {p.stem for p in Path(pkg.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert set(pkg.__all__) == modules, "add the module to experiments/data/sets/__init__.py"
