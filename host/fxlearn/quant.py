"""Quantized weight formats (docs/kernel.md section 3): integer level sets, codes, packing.

Levels are integers in *units*; the real weight is ``sign * level * unit_scale``, where the unit
scale folds into the layer's requantization multiplier.
"""
from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

# Format identifiers, equal to the C enum fx_format.
FMT_INT8, FMT_INT16, FMT_UNIFORM, FMT_POT, FMT_APOT = 0, 1, 2, 3, 4
FORMAT_NAMES = {FMT_INT8: "int8", FMT_INT16: "int16", FMT_UNIFORM: "uniform", FMT_POT: "pot", FMT_APOT: "apot"}
CODE_BITS = (2, 3, 4, 5, 6, 8)          # packed-code widths of UNIFORM / POT
APOT_BITS = (2, 3, 4, 5, 6, 7)          # b = B + 1 for the level sets below

# APoT terms per magnitude-bit count B (ALGORITHMS.md 2.1, in units of the smallest power of two).
# B = 1 (2-bit weights) is ternary {0, 1}, as in the APoT authors' code (power only if w_bit > 2).
APOT_TERMS = {
    1: ((0, 1),),
    2: ((0, 4, 2, 1),),
    3: ((0, 8, 4, 1), (0, 2)),
    4: ((0, 32, 8, 2), (0, 16, 4, 1)),
    5: ((0, 64, 16, 2), (0, 32, 8, 1), (0, 4)),
    6: ((0, 256, 32, 4), (0, 128, 16, 2), (0, 64, 8, 1)),
}


@lru_cache(maxsize=None)
def levels(fmt: int, bits: int) -> tuple[int, ...]:
    """The non-negative integer levels L[m], m = 0 .. 2^B - 1, of a b-bit signed code
    (B = bits - 1 magnitude bits), ascending. Raises ValueError for an unsupported width."""
    B = bits - 1
    if fmt == FMT_UNIFORM and bits in CODE_BITS:
        return tuple(range(1 << B))
    if fmt == FMT_POT and bits in CODE_BITS:
        return (0,) + tuple(1 << (m - 1) for m in range(1, 1 << B))
    if fmt == FMT_APOT and B in APOT_TERMS:
        sums = sorted({sum(c) for c in itertools.product(*APOT_TERMS[B])})
        assert len(sums) == 1 << B
        return tuple(sums)
    raise ValueError(f"{FORMAT_NAMES.get(fmt, fmt)} weights do not support {bits} bits")


def apot_terms_of_level(bits: int, level: int) -> tuple[int, ...]:
    """The non-zero powers of two whose sum is the APoT level (one per used term)."""
    for combo in itertools.product(*APOT_TERMS[bits - 1]):
        if sum(combo) == level:
            return tuple(t for t in combo if t)
    raise ValueError(f"{level} is not an APoT level of {bits} bits")
