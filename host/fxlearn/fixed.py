"""Bit-exact reference of the kernel's fixed-point helpers (docs/kernel.md sections 1-2).

Written from the specification, not from the C: Python integers are exact, so the scalar
functions say what the integers are; the ``*_np`` versions are the vectorised forms used by
the layer references, valid on the ranges the kernel uses them on.
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -(1 << 7), (1 << 7) - 1
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
MULT_MIN, SHIFT_MIN, SHIFT_MAX = 1 << 30, -31, 30


def clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x


def sat32(x: int) -> int:
    return clamp(x, INT32_MIN, INT32_MAX)


def sat16(x: int) -> int:
    return clamp(x, INT16_MIN, INT16_MAX)


def sat8(x: int) -> int:
    return clamp(x, INT8_MIN, INT8_MAX)


def rhu(x_num: int, den: int) -> int:
    """Round half up of the rational x_num / den (den > 0): floor(x + 1/2), eq. (4)."""
    if den <= 0:
        raise ValueError("denominator must be positive")
    return (2 * x_num + den) // (2 * den)


def rhu_shift(x: int, s: int) -> int:
    """floor(x / 2^s + 1/2); s <= 0 returns x, s > 62 behaves as 62 (the kernel's clamp)."""
    if s <= 0:
        return x
    return rhu(x, 1 << min(s, 62))


def udiv64(n: int, d: int) -> tuple[int, int]:
    """fx_udiv64: (floor(n / d), n mod d) of uint64 operands; d = 0 gives (2^64 - 1, n)."""
    if not (0 <= n < 1 << 64 and 0 <= d < 1 << 64):
        raise ValueError("udiv64 operands are uint64")
    return ((1 << 64) - 1, n) if d == 0 else divmod(n, d)


def q_from_int(i: int, q: int) -> int:
    return sat32(i << clamp(q, 0, 30))


def q_rescale(x: int, q_from: int, q_to: int) -> int:
    d = q_to - q_from
    if d > 0:
        return sat32(x << min(d, 31))
    return sat32(rhu_shift(x, -d))


def requant_check(mult: int, shift: int) -> None:
    """Raise ValueError unless (mult, shift) is a valid kernel scale."""
    if not (mult == 0 or MULT_MIN <= mult <= INT32_MAX):
        raise ValueError(f"requant multiplier {mult} outside {{0}} U [2^30, 2^31-1]")
    if not (SHIFT_MIN <= shift <= SHIFT_MAX):
        raise ValueError(f"requant shift {shift} outside [{SHIFT_MIN}, {SHIFT_MAX}]")


def requant(acc: int, mult: int, shift: int) -> int:
    """sat32(rhu(acc * mult / 2^(31 - shift))): TFLM single-rounding requantization."""
    return sat32(rhu_shift(acc * mult, 31 - shift))


def requant_np(acc: np.ndarray, mult, shift) -> np.ndarray:
    """Vectorised requant of int32-range accumulators (|acc * mult| < 2^62, so int64 is exact).

    mult and shift may be scalars or per-element arrays (per-output-channel scales)."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    s = (31 - np.asarray(shift, dtype=np.int64))
    prod = acc * mult
    rounded = (prod + (np.int64(1) << (s - 1))) >> s
    return np.clip(rounded, INT32_MIN, INT32_MAX)


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """(mult, shift) with mult in [2^30, 2^31) and scale ~= mult * 2^(shift - 31).

    Host side only (the kernel never sees floats). Raises ValueError when the scale cannot be
    represented (negative, or outside the shift range)."""
    if scale < 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be finite and >= 0, got {scale}")
    if scale == 0:
        return 0, 0
    mant, exp = math.frexp(scale)          # scale = mant * 2^exp, mant in [0.5, 1)
    mult = round(mant * (1 << 31))
    if mult == 1 << 31:                    # rounding carried into the next power of two
        mult //= 2
        exp += 1
    if exp < SHIFT_MIN:                    # too small to represent: the scale is 0
        return 0, 0
    if exp > SHIFT_MAX:
        raise ValueError(f"scale {scale} too large for the requantization shift range")
    return int(mult), int(exp)
