"""Argument checks and channel rounding shared by every model family."""

from __future__ import annotations

from dataclasses import dataclass, replace


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round channels to a multiple of ``divisor`` without going below ``round_limit`` of the request.

    The same rule as the MobileNet reference code, so widths match torchvision/timm exactly.
    """
    if divisor <= 0:
        raise ValueError(f"round_divisor must be positive, got {divisor}")
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < round_limit * value:
        new += divisor
    return int(new)


def check_width_mult(width_mult: float) -> float:
    if not width_mult > 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    return float(width_mult)


def check_positive(name: str, value: int) -> int:
    if int(value) != value or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_input_size(input_size: int | None, total_stride: int, model: str) -> None:
    """Reject inputs smaller than the network's total stride (the last feature map would be empty)."""
    if input_size is None:
        return
    if input_size < total_stride:
        raise ValueError(
            f"input_size={input_size} is smaller than the total stride {total_stride} of {model}; "
            f"use input_size >= {total_stride} or small_input=True"
        )


def check_groups(name: str, channels: int, groups: int) -> None:
    if groups <= 0 or channels % groups:
        raise ValueError(f"{name}: groups={groups} does not divide channels={channels}")


@dataclass(frozen=True)
class Widths:
    """A family's channel rule: paper width x ``mult``, rounded to a multiple of ``divisor``."""

    mult: float
    divisor: int

    def __call__(self, channels: float) -> int:
        return make_divisible(channels * self.mult, self.divisor)

    def round(self, channels: float) -> int:
        """Round a width that is already scaled (an expanded or SE width derived from a built one)."""
        return make_divisible(channels, self.divisor)

    def with_divisor(self, divisor: int) -> Widths:
        """The same multiplier with a coarser rounding (channels that must also split into groups)."""
        return replace(self, divisor=divisor)


def check_common_args(num_classes: int, in_chans: int, width_mult: float, round_divisor: int) -> Widths:
    """Check the arguments every zoo constructor takes and return its channel rule."""
    check_positive("num_classes", num_classes)
    check_positive("in_chans", in_chans)
    divisor = check_positive("round_divisor", round_divisor)
    return Widths(check_width_mult(width_mult), divisor)
