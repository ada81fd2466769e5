"""Bit-exact reference of the activation and decision routines (docs/kernel.md section 5):
ReLU, argmax (ties -> lowest index) and the snap of values to an ascending level table
(ties -> the larger level), used for APoT-quantized activations."""
from __future__ import annotations

import ctypes as C

import numpy as np

from . import fixed, native


def relu(x) -> np.ndarray:
    return np.maximum(np.asarray(x, dtype=np.int64), 0)


def argmax(x) -> np.ndarray:
    """Index of the largest value along the last axis; the first one among equals."""
    x = np.asarray(x)
    if x.shape[-1] == 0:
        raise ValueError("argmax of an empty vector")
    return np.argmax(x, axis=-1)


def check_levels(levels) -> np.ndarray:
    """The level table as int64, or ValueError unless it is a non-empty, strictly ascending
    1-D table of int16 values."""
    lv = np.asarray(levels)
    if lv.ndim != 1 or lv.size == 0:
        raise ValueError("activation levels must be a non-empty 1-D table")
    if not np.issubdtype(lv.dtype, np.integer):
        raise ValueError("activation levels must be integers")
    lv = lv.astype(np.int64)
    if lv.min() < fixed.INT16_MIN or lv.max() > fixed.INT16_MAX:
        raise ValueError("activation levels outside int16")
    if np.any(np.diff(lv) <= 0):
        raise ValueError("activation levels must be strictly ascending")
    return lv


def snap(x, levels) -> np.ndarray:
    """Each value replaced by the nearest level; halfway between two levels -> the larger."""
    lv = check_levels(levels)
    x = np.asarray(x, dtype=np.int64)
    idx = np.searchsorted(lv, x, side="left")            # first level >= x
    hi = lv[np.minimum(idx, len(lv) - 1)]
    lo = lv[np.maximum(idx - 1, 0)]
    return np.where(idx == 0, lv[0], np.where(idx == len(lv), lv[-1], np.where(hi - x <= x - lo, hi, lo)))


native.declare("fx_relu_s16", C.c_int, [native.i16p, C.c_uint32])
native.declare("fx_argmax_s16", C.c_int, [native.i16p, C.c_uint32, C.POINTER(C.c_uint32)])
native.declare("fx_levels_check_s16", C.c_int, [native.i16p, C.c_uint32])
native.declare("fx_snap_s16", C.c_int, [native.i16p, C.c_uint32, native.i16p, C.c_uint32])
