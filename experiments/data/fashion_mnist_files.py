"""Finding and decoding the Fashion-MNIST IDX files (shared by the data set and ``ensure``)."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import torch

from experiments.data.idx import IdxFormatError, read_idx_pair

log = logging.getLogger(__name__)

# where Debian's `dataset-fashion-mnist` package installs the gzipped IDX files
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
# split -> (images file, labels file), the names of the original distribution
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# torchvision's download=True puts the files here below its root
TORCHVISION_SUBDIR = Path("FashionMNIST") / "raw"


class FashionMNISTNotFoundError(FileNotFoundError):
    """The IDX files are in none of the searched directories; the message lists them and the fixes."""

    def __init__(self, searched: list[Path]) -> None:
        self.searched = searched
        places = "\n".join(f"  - {p}" for p in searched)
        super().__init__(
            "Fashion-MNIST not found. Looked for train-images-idx3-ubyte(.gz) and the three other IDX "
            f"files in:\n{places}\nTo get it: `apt-get install {DEBIAN_PACKAGE}` (Debian/Ubuntu, offline "
            f"mirrors work), or put the files in a directory and set data.root=DIR (or $SLIMLAB_DATA_DIR="
            "PARENT with a fashion-mnist/ subdirectory), or set data.download=true when online; "
            "`python -m experiments.data.ensure` does the apt step for you."
        )


def search_dirs(root: str | Path | None = None) -> list[Path]:
    """Directories searched, in order: ``root``, $SLIMLAB_DATA_DIR/fashion-mnist, ./data/fashion-mnist,
    the Debian package's directory."""
    dirs = [Path(root)] if root else []
    env = os.environ.get("SLIMLAB_DATA_DIR")
    if env:
        dirs.append(Path(env) / "fashion-mnist")
    dirs += [Path.cwd() / "data" / "fashion-mnist", SYSTEM_DIR]
    return dirs


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz", stem.replace("-idx", ".idx"), f"{stem.replace('-idx', '.idx')}.gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _complete_dir(directory: Path) -> Path | None:
    """``directory`` (or its torchvision layout) when it holds all four files."""
    for candidate in (directory, directory / TORCHVISION_SUBDIR):
        if all(_find_file(candidate, stem) for pair in FILES.values() for stem in pair):
            return candidate
    return None


def locate(root: str | Path | None = None) -> Path:
    """The first searched directory holding all four IDX files; ``FashionMNISTNotFoundError`` otherwise."""
    dirs = search_dirs(root)
    for directory in dirs:
        found = _complete_dir(directory)
        if found is not None:
            return found
    raise FashionMNISTNotFoundError(dirs)


def download(root: str | Path) -> Path:
    """Fetch the files with torchvision (online only) and return the directory holding them."""
    from torchvision.datasets import FashionMNIST

    for train in (True, False):
        FashionMNIST(str(root), train=train, download=True)
    found = _complete_dir(Path(root))
    if found is None:
        raise FashionMNISTNotFoundError([Path(root), Path(root) / TORCHVISION_SUBDIR])
    return found


@functools.lru_cache(maxsize=4)
def _decode(images: Path, labels: Path, _stamp: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = read_idx_pair(images, labels)
    if x.dtype != np.uint8:
        raise IdxFormatError(images, f"Fashion-MNIST images must be uint8, found {x.dtype}")
    if y.min() < 0 or y.max() > 9:
        raise IdxFormatError(labels, f"labels must lie in 0..9, found {int(y.min())}..{int(y.max())}")
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def load_split(directory: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, 1, 28, 28]`` uint8 and labels ``[N]`` of ``split`` ("train"/"test").

    Decoded once per process (gunzip + parse is most of the load time); the cache
    key includes size and mtime so a replaced file is read again.
    """
    images, labels = (_find_file(directory, stem) for stem in FILES[split])
    if images is None or labels is None:
        raise FashionMNISTNotFoundError([directory])
    stamp = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in (images, labels))
    log.info("Fashion-MNIST %s split from %s", split, directory)
    return _decode(images.resolve(), labels.resolve(), stamp)
