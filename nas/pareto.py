"""Pareto fronts and hypervolume over minimization points (negate maximized objectives first)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Front index of every point (0: the Pareto front), by repeated peeling; O(n^2) per front, which is
    nothing next to training the candidates."""
    remaining = set(range(len(points)))
    ranks = [0] * len(points)
    front = 0
    while remaining:
        current = {i for i in remaining
                   if not any(dominates(points[j], points[i]) for j in remaining if j != i)}
        for i in current:
            ranks[i] = front
        remaining -= current
        front += 1
    return ranks


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points, duplicates kept once (the lowest index)."""
    ranks = nondominated_ranks(points)
    seen, front = set(), []
    for i, r in enumerate(ranks):
        key = tuple(points[i])
        if r == 0 and key not in seen:
            seen.add(key)
            front.append(i)
    return front


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (exact: a sweep in 2-D, inclusion by slicing
    for more objectives, which suits the handful of objectives a search has)."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray([p for p in points if np.all(np.asarray(p) < ref)], dtype=float).reshape(-1, len(ref))
    if len(pts) == 0:
        return 0.0
    pts = pts[pareto_front(pts.tolist())]
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    if pts.shape[1] == 2:
        pts = pts[np.argsort(pts[:, 0])]
        volume, best_y = 0.0, ref[1]
        for x, y in pts:
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(volume)
    # slice along the last objective: between consecutive levels the dominated set is a lower-dim volume
    order = np.argsort(pts[:, -1])
    pts = pts[order]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        volume += hypervolume(pts[: i + 1, :-1].tolist(), ref[:-1]) * (upper - pts[i, -1])
    return float(volume)
