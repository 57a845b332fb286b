"""The data set registry and what every data set builder returns.

A builder turns a ``DataConfig`` and its checked ``options`` into a ``SourceData``: the official train and
test sets, untransformed, plus the facts the generic code needs to split,
convert and normalize them. Splitting and transforms are shared, so a new data
set is one small module in ``experiments.data.sets`` plus its line in that package's import list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from configs.registry import Registry


@dataclass(frozen=True)
class SourceData:
    # official splits; items are (image, label) with image a CHW tensor or a PIL image
    train: Dataset
    test: Dataset
    class_names: list[str]
    # geometry of the stored images; image_size None when images differ in size
    channels: int
    image_size: int | None
    # per-channel statistics of the stored images (in [0, 1] units), used for normalization
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(
                f"mean/std need {self.channels} values (one per channel), got {self.mean} / {self.std}"
            )
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")


# (the DataConfig, its options as a plain dict) -> the data set's official splits
DatasetBuilder = Callable[[Any, dict[str, Any]], SourceData]
DATASETS: Registry[DatasetBuilder] = Registry("data set")


def register_dataset(name: str, *, hflip_preserves_label: bool, **meta: Any) -> Callable:
    """Register a builder. Whether a horizontal flip keeps the label is declared up front
    so that a wrong augmentation request fails before any data is read."""
    return DATASETS.register(name, hflip_preserves_label=hflip_preserves_label, **meta)


def import_datasets() -> None:
    """Register the data sets: ``experiments.data.sets`` imports each of them by name. Done on first use,
    not at import, because every data set module imports this one to register itself."""
    import experiments.data.sets  # noqa: F401


def check_options(dataset: str, options: Mapping[str, Any], allowed: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` merged over ``allowed`` (the defaults); an unknown key is a typo, so it fails."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"data set '{dataset}' has no option(s) {unknown}; valid options: {valid}")
    return {**allowed, **options}
