from __future__ import annotations

import gzip
import shutil

import pytest
import torch

from experiments.data import build_data
from experiments.data import ensure as ensure_mod
from experiments.data import fashion_mnist_files as files

# captured before any test patches it
REAL_DIR = files.SYSTEM_DIR


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """Every default location points at an empty directory; returns the explicit root to pass."""
    for sub in ("root", "env", "cwd", "system"):
        (tmp_path / sub).mkdir()
    monkeypatch.setenv("SLIMLAB_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(files, "SYSTEM_DIR", tmp_path / "system")
    return tmp_path


def test_real_files_have_official_sizes_and_balance():
    directory = files.locate()
    train_x, train_y = files.load_split(directory, "train")
    test_x, test_y = files.load_split(directory, "test")
    assert train_x.shape == (60_000, 1, 28, 28) and train_x.dtype == torch.uint8
    assert test_x.shape == (10_000, 1, 28, 28)
    assert torch.bincount(train_y).tolist() == [6_000] * 10
    assert torch.bincount(test_y).tolist() == [1_000] * 10
    # decoded once per process: the second call returns the same tensor
    assert files.load_split(directory, "train")[0] is train_x


def test_build_data_default(make_cfg):
    full = build_data(make_cfg())
    assert (len(full.train), len(full.val), len(full.test)) == (54_000, 6_000, 10_000)
    bundle = build_data(make_cfg(limit_eval=300))
    assert bundle.name == "fashion_mnist" and bundle.num_classes == 10
    assert len(bundle.val) == 300 and len(bundle.test) == 300
    # the cap draws at random rather than a prefix, so every class stays present
    assert torch.bincount(bundle.test.targets, minlength=10).min() > 0
    assert bundle.class_names[0] == "T-shirt/top" and bundle.class_names[9] == "Ankle boot"
    x, y = next(iter(bundle.val_loader))
    assert x.shape == (300, 1, 28, 28) and y.dtype == torch.int64
    # normalized with the training statistics: roughly zero mean, unit std
    assert abs(float(x.mean())) < 0.15 and 0.8 < float(x.std()) < 1.2


def test_missing_data_lists_every_searched_place(nowhere, make_cfg):
    with pytest.raises(FileNotFoundError) as info:
        build_data(make_cfg(root=str(nowhere / "root")))
    message = str(info.value)
    for sub in ("root", "env/fashion-mnist", "cwd/data/fashion-mnist", "system"):
        assert str(nowhere / sub) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data.download=true" in message and "data.root" in message


def test_found_in_root_with_plain_and_gzip_files(nowhere):
    root = nowhere / "root"
    for pair in files.FILES.values():
        for stem in pair:
            real = REAL_DIR / f"{stem}.gz"
            if "labels" in stem:
                (root / stem).write_bytes(gzip.decompress(real.read_bytes()))
            else:
                shutil.copy(real, root / f"{stem}.gz")
    assert files.locate(root) == root


def test_ensure_installs_when_missing(nowhere, capsys):
    calls = []

    def fake_install() -> bool:
        # stands in for apt: the package puts the files into the system directory
        calls.append("install")
        for pair in files.FILES.values():
            for stem in pair:
                (files.SYSTEM_DIR / f"{stem}.gz").write_bytes(b"")
        return True

    assert ensure_mod.ensure(None, install=fake_install) == files.SYSTEM_DIR
    assert calls == ["install"]


def test_ensure_main_fails_clearly_when_install_impossible(nowhere, monkeypatch, capsys):
    monkeypatch.setattr(ensure_mod, "apt_install", lambda: False)
    assert ensure_mod.main(["--root", str(nowhere / "root")]) == 1
    err = capsys.readouterr().err
    assert str(nowhere / "system") in err and "apt-get install dataset-fashion-mnist" in err


def test_apt_install_updates_only_when_package_unknown(monkeypatch):
    monkeypatch.setattr(ensure_mod.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(ensure_mod.os, "geteuid", lambda: 0)
    ran: list[list[str]] = []

    def run(cmd):
        ran.append(cmd)
        return True

    assert ensure_mod.apt_install(run=run, knows=lambda pkg: True)
    assert ran == [["apt-get", "install", "-y", "--no-install-recommends", "dataset-fashion-mnist"]]
    ran.clear()
    assert ensure_mod.apt_install(run=run, knows=lambda pkg: False)
    assert [c[1] for c in ran] == ["update", "install"]
    monkeypatch.setattr(ensure_mod.os, "geteuid", lambda: 1000)
    ran.clear()
    assert not ensure_mod.apt_install(run=run, knows=lambda pkg: True) and ran == []


def test_ensure_main_reports_location(capsys):
    assert ensure_mod.main([]) == 0
    assert "Fashion-MNIST found in" in capsys.readouterr().out


def test_found_with_mnist_style_names_in_torchvision_layout(nowhere):
    raw = nowhere / "root" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for pair in files.FILES.values():
        for stem in pair:
            (raw / stem.replace("-idx", ".idx")).write_bytes(b"")
    assert files.locate(nowhere / "root") == raw
