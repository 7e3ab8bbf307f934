"""Uniform draws in bulk: whole arrays of random integers from ``rng.randbytes``, and lookup tables.

A weighted choice over a column of rows is one 16-bit draw per row indexing a 65,536-entry table
(:func:`lut`), far faster than ``rng.choices`` row by row.
"""

from __future__ import annotations

import random
import sys
from array import array
from collections.abc import Sequence

LUT_SIZE = 1 << 16  # lookup tables are indexed by one 16-bit draw
_LITTLE = sys.byteorder == "little"
assert array("H").itemsize == 2 and array("I").itemsize == 4


def u16(rng: random.Random, n: int) -> array:
    """``n`` uniform integers in [0, 65536)."""
    out = array("H", rng.randbytes(2 * n))
    if not _LITTLE:
        out.byteswap()
    return out


def u32(rng: random.Random, n: int) -> array:
    """``n`` uniform integers in [0, 2**32)."""
    out = array("I", rng.randbytes(4 * n))
    if not _LITTLE:
        out.byteswap()
    return out


def below(rng: random.Random, n: int, m: int) -> list[int]:
    """``n`` integers in [0, m) (multiply-shift; the bias m / 2**32 is negligible here)."""
    return [(x * m) >> 32 for x in u32(rng, n)]


def lut(items: Sequence, weights: Sequence[float] | None = None) -> list:
    """A 65,536-entry table: indexing it with a uniform 16-bit draw is a weighted choice."""
    weights = [1.0] * len(items) if weights is None else list(weights)
    total = float(sum(weights))
    exact = [w * LUT_SIZE / total for w in weights]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(items)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: LUT_SIZE - sum(counts)]:
        counts[i] += 1
    table: list = []
    for item, count in zip(items, counts):
        table.extend([item] * count)
    return table


def pick(table: list, draws: array) -> list:
    return list(map(table.__getitem__, draws))
