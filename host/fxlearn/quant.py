"""Quantized weight formats (docs/kernel.md section 3): integer level sets, codes, packing.

Levels are integers in *units*; the real weight is ``sign * level * unit_scale``, where the unit
scale folds into the layer's requantization multiplier.
"""
from __future__ import annotations

import ctypes as C
import itertools
from functools import lru_cache

import numpy as np

from . import native

# Format identifiers, equal to the C enum fx_format.
FMT_INT8, FMT_INT16, FMT_UNIFORM, FMT_POT, FMT_APOT = 0, 1, 2, 3, 4
FORMAT_NAMES = {FMT_INT8: "int8", FMT_INT16: "int16", FMT_UNIFORM: "uniform", FMT_POT: "pot", FMT_APOT: "apot"}
CODE_BITS = (2, 3, 4, 5, 6, 8)          # packed-code widths of UNIFORM
POT_BITS = (2, 3, 4, 5, 6)              # PoT stops at 6 bits: 8 would need levels up to 2^126
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
    if fmt == FMT_POT and bits in POT_BITS:
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


# ---- formats, codes and packing (the C side: fx_quant.h) -------------------------------------

INT_BITS = {FMT_INT8: 8, FMT_INT16: 16}
PACKED_FORMATS = (FMT_UNIFORM, FMT_POT, FMT_APOT)


def check_format(fmt: int, bits: int) -> None:
    """Raise ValueError unless `bits` is a width of format `fmt` (same rule as fx_quant_check)."""
    if fmt in INT_BITS:
        if bits != INT_BITS[fmt]:
            raise ValueError(f"{FORMAT_NAMES[fmt]} weights are {INT_BITS[fmt]} bits, not {bits}")
        return
    if fmt not in PACKED_FORMATS:
        raise ValueError(f"unknown weight format {fmt!r}")
    levels(fmt, bits)   # raises for an unsupported width


def max_level(fmt: int, bits: int) -> int:
    """Largest |level| a code or element of the format can hold (the kernel's overflow bound)."""
    check_format(fmt, bits)
    if fmt in INT_BITS:
        return 1 << (INT_BITS[fmt] - 1)
    return levels(fmt, bits)[-1]


def row_stride(fmt: int, bits: int, n_in: int) -> int:
    """Bytes of one weight row: n_in (INT8), 2 n_in (INT16), ceil(n_in * bits / 8) (packed)."""
    check_format(fmt, bits)
    if fmt in INT_BITS:
        return n_in * INT_BITS[fmt] // 8
    return (n_in * bits + 7) // 8


def code_levels(fmt: int, bits: int) -> np.ndarray:
    """Signed level of every b-bit sign-magnitude code 0 .. 2^b - 1 (packed formats)."""
    if fmt not in PACKED_FORMATS:
        raise ValueError(f"{FORMAT_NAMES.get(fmt, fmt)} weights have no packed codes")
    mags = np.array(levels(fmt, bits), dtype=np.int64)
    return np.concatenate([mags, -mags])


def codes_to_levels(codes, fmt: int, bits: int) -> np.ndarray:
    """Signed integer levels (int64) of codes (packed formats) or of int8/int16 elements."""
    check_format(fmt, bits)
    codes = np.asarray(codes, dtype=np.int64)
    if fmt in INT_BITS:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if codes.size and (codes.min() < lo or codes.max() > hi):
            raise ValueError(f"{FORMAT_NAMES[fmt]} elements outside [{lo}, {hi}]")
        return codes.copy()
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(f"codes outside 0 .. 2^{bits} - 1")
    return code_levels(fmt, bits)[codes]


def levels_to_codes(weight, fmt: int, bits: int) -> np.ndarray:
    """Codes (int64) of signed levels: sign-magnitude for packed formats (0 gets sign 0),
    the values themselves for INT8/INT16. ValueError for a value that is not a level."""
    check_format(fmt, bits)
    weight = np.asarray(weight, dtype=np.int64)
    if fmt in INT_BITS:
        return codes_to_levels(weight, fmt, bits)
    mags = np.array(levels(fmt, bits), dtype=np.int64)
    a = np.abs(weight)
    m = np.searchsorted(mags, a)
    bad = (m >= len(mags)) | (mags[np.minimum(m, len(mags) - 1)] != a)
    if bad.any():
        v = int(weight[bad].flat[0])
        raise ValueError(f"{v} is not a level of {bits}-bit {FORMAT_NAMES[fmt]} weights")
    return m + ((weight < 0) << (bits - 1))


def pack(codes, bits: int) -> np.ndarray:
    """Pack codes [rows, n_in] into uint8 [rows, ceil(n_in * bits / 8)]: LSB-first bit stream,
    each row starting on a byte boundary (docs/kernel.md section 3)."""
    codes = np.atleast_2d(np.asarray(codes, dtype=np.int64))
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(f"codes outside 0 .. 2^{bits} - 1")
    rows, n_in = codes.shape
    stream = ((codes[:, :, None] >> np.arange(bits)) & 1).reshape(rows, n_in * bits)
    pad = (-n_in * bits) % 8
    stream = np.pad(stream, ((0, 0), (0, pad))).astype(np.uint8)
    return np.packbits(stream, axis=1, bitorder="little")


def unpack(packed, bits: int, n_in: int) -> np.ndarray:
    """Inverse of pack: uint8 [rows, stride] -> codes int64 [rows, n_in]."""
    packed = np.atleast_2d(np.asarray(packed, dtype=np.uint8))
    if packed.shape[1] != (n_in * bits + 7) // 8:
        raise ValueError(f"rows of {packed.shape[1]} bytes, expected {(n_in * bits + 7) // 8}")
    stream = np.unpackbits(packed, axis=1, bitorder="little")[:, :n_in * bits]
    return (stream.reshape(-1, n_in, bits).astype(np.int64) << np.arange(bits)).sum(axis=2)


def weight_bytes(weight, fmt: int, bits: int) -> np.ndarray:
    """The kernel's weight array (uint8 [out, row_stride]) of signed levels [out, in]."""
    codes = levels_to_codes(np.atleast_2d(weight), fmt, bits)
    if fmt == FMT_INT8:
        return codes.astype("<i1").view(np.uint8)
    if fmt == FMT_INT16:
        return np.ascontiguousarray(codes.astype("<i2")).view(np.uint8)
    return pack(codes, bits)


def weight_from_bytes(data, fmt: int, bits: int, n_out: int, n_in: int) -> np.ndarray:
    """Signed levels [n_out, n_in] of a kernel weight array (inverse of weight_bytes)."""
    stride = row_stride(fmt, bits, n_in)
    data = np.frombuffer(bytes(data), dtype=np.uint8)
    if data.size != n_out * stride:
        raise ValueError(f"weight array of {data.size} bytes, expected {n_out * stride}")
    if fmt == FMT_INT8:
        return data.view("<i1").astype(np.int64).reshape(n_out, n_in)
    if fmt == FMT_INT16:
        return data.view("<i2").astype(np.int64).reshape(n_out, n_in)
    return codes_to_levels(unpack(data.reshape(n_out, stride), bits, n_in), fmt, bits)


# ---- encoders from float weights --------------------------------------------------------------

def _alpha(w: np.ndarray, alpha, per_channel: bool) -> np.ndarray:
    """Clip threshold per tensor ([]) or per output channel ([out]); default max|w|."""
    if per_channel and w.ndim != 2:
        raise ValueError("per-channel quantization needs a 2-D weight [out, in]")
    if alpha is None:
        alpha = np.abs(w).max(axis=1) if per_channel else np.abs(w).max(initial=0.0)
    alpha = np.asarray(alpha, dtype=np.float64)
    if per_channel:
        alpha = np.broadcast_to(alpha, (w.shape[0],)).copy()
    elif alpha.ndim != 0:
        raise ValueError("a per-tensor alpha must be a scalar")
    if not np.all(np.isfinite(alpha)) or np.any(alpha < 0):
        raise ValueError("alpha must be finite and >= 0")
    return alpha


def quantize(w, fmt: int, bits: int, alpha=None, per_channel: bool = False):
    """Quantize float weights to (codes, unit_scale) with w ~= level(code) * unit_scale.

    alpha is the clip threshold (scalar, or [out] per channel; default max|w|): |w| >= alpha maps
    to the largest level, which is alpha itself. unit_scale = alpha / max level, so it is a
    scalar or an [out] array (0 where alpha is 0: those weights all encode as 0). Each |w| rounds
    to the nearest level; a tie (in float arithmetic) goes to the larger magnitude. INT8/INT16
    are symmetric: levels -(2^(b-1) - 1) .. 2^(b-1) - 1, codes are the values themselves;
    packed formats return sign-magnitude codes, never the code for -0."""
    check_format(fmt, bits)
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    alpha = _alpha(w, alpha, per_channel)
    if fmt in INT_BITS:
        mags = None
        top = (1 << (bits - 1)) - 1
    else:
        mags = np.array(levels(fmt, bits), dtype=np.float64)
        top = int(mags[-1])
    unit = alpha / top
    unit_b = unit[:, None] if per_channel else unit
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(unit_b > 0, np.abs(w) / np.where(unit_b > 0, unit_b, 1.0), 0.0)
    a = np.minimum(a, top)
    if mags is None:
        m = np.floor(a + 0.5).astype(np.int64)          # half away from zero
        return np.where(w < 0, -m, m), unit
    idx = np.clip(np.searchsorted(mags, a, side="left"), 1, len(mags) - 1)
    lo, hi = mags[idx - 1], mags[idx]
    m = np.where(a - lo >= hi - a, idx, idx - 1).astype(np.int64)
    return m + (((w < 0) & (m > 0)).astype(np.int64) << (bits - 1)), unit


def dequantize(codes, fmt: int, bits: int, unit_scale) -> np.ndarray:
    """Float weights level(code) * unit_scale (unit_scale scalar or per output channel)."""
    lv = codes_to_levels(codes, fmt, bits).astype(np.float64)
    unit = np.asarray(unit_scale, dtype=np.float64)
    return lv * (unit[:, None] if unit.ndim == 1 else unit)


# ---- the C kernel's routines (ctypes signatures) -----------------------------------------------

class FxApotTerms(C.Structure):
    """Mirror of fx_apot_terms (fx_quant.h)."""
    _fields_ = [("n", C.c_uint8), ("shift", C.c_uint8 * 3)]


native.declare("fx_quant_check", C.c_int, [C.c_int32, C.c_int32])
native.declare("fx_quant_row_stride", C.c_int, [C.c_int32, C.c_int32, C.c_uint32, C.POINTER(C.c_uint32)])
native.declare("fx_quant_max_level", C.c_int, [C.c_int32, C.c_int32, C.POINTER(C.c_uint32)])
native.declare("fx_quant_level", C.c_int, [C.c_int32, C.c_int32, C.c_uint32, C.POINTER(C.c_int32)])
native.declare("fx_quant_apot_terms", C.POINTER(FxApotTerms), [C.c_int32])
