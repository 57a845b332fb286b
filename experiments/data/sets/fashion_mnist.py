"""Fashion-MNIST (Xiao et al. 2017): 28x28 grayscale clothing, 60,000 train / 10,000 test, 10 classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.data import fashion_mnist_files as files
from experiments.data.datasets import TensorImages
from experiments.data.registry import SourceData, check_options, register_dataset

CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
# mean and std of all pixels of the 60,000 training images, scaled to [0, 1]
# (computed with experiments.data.idx from the official files: 0.28604, 0.35302)
MEAN, STD = (0.2860,), (0.3530,)


# clothing photographed front-on is left/right symmetric in meaning
@register_dataset("fashion_mnist", hflip_preserves_label=True)
def build_fashion_mnist(cfg: Any, options: dict[str, Any]) -> SourceData:
    check_options("fashion_mnist", options, {})
    try:
        directory = files.locate(cfg.root)
    except files.FashionMNISTNotFoundError:
        if not cfg.download:
            raise
        directory = files.download(cfg.root or Path.cwd() / "data")
    splits = {
        split: TensorImages(*files.load_split(directory, split), source=f"Fashion-MNIST {split} in {directory}")
        for split in files.FILES
    }
    return SourceData(
        train=splits["train"], test=splits["test"], class_names=CLASS_NAMES,
        channels=1, image_size=28, mean=MEAN, std=STD,
    )
