"""Argument checks and channel rounding shared by every model family."""

from __future__ import annotations


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
