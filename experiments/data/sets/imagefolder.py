"""ImageNet-style class folders: ``root/train/<class>/*`` and ``root/val/<class>/*``.

The official ``val`` folder serves as the test split; the validation split used
for tuning is carved from ``train`` like for every other data set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torchvision.datasets import ImageFolder

from experiments.data.registry import SourceData, check_options, register_dataset

# the ImageNet-1k training-set statistics used by torchvision's and timm's pretrained models
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _check_layout(root: Path) -> None:
    # both folders are checked before either is scanned: a scan of a big train/ is slow
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise FileNotFoundError(
                f"imagefolder: {root / split} does not exist; data.root must hold train/ and val/ with "
                "one sub-directory of images per class"
            )


def _folder(path: Path) -> ImageFolder:
    try:
        # the default loader converts every image to RGB, so the stored channel count is 3
        return ImageFolder(str(path))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"imagefolder: {path}: {err}") from None


@register_dataset("imagefolder", hflip_preserves_label=True)
def build_imagefolder(cfg: Any, options: dict[str, Any]) -> SourceData:
    check_options("imagefolder", options, {})
    if not cfg.root:
        raise ValueError("imagefolder needs data.root: a directory with train/ and val/ class folders")
    root = Path(cfg.root)
    if not root.is_dir():
        raise FileNotFoundError(f"imagefolder: data.root {root} does not exist")
    _check_layout(root)
    train, test = _folder(root / "train"), _folder(root / "val")
    if train.classes != test.classes:
        raise ValueError(
            f"imagefolder: class folders differ between {root / 'train'} ({train.classes}) and "
            f"{root / 'val'} ({test.classes})"
        )
    return SourceData(
        train=train, test=test, class_names=list(train.classes),
        channels=3, image_size=None, mean=IMAGENET_MEAN, std=IMAGENET_STD,
    )
