"""Bit-exact reference of the dense layer forward (docs/kernel.md section 4), and the ctypes
mirror of ``fx_dense_layer`` for running the C kernel on the same integers.

    acc_i = bias_i + sum_j x_j * W_ij            (exact: Python / int64, |acc| < 2^62)
    y_i   = clamp(requant(sat32(acc_i), mult_i, shift_i), act_min, act_max)

W holds signed integer levels (``quant.codes_to_levels``); the weight format only decides
which levels are allowed and how the kernel stores them.
"""
from __future__ import annotations

import ctypes as C

import numpy as np

from . import fixed, native, quant

MAX_FAN_IN = 65535
MAX_FAN_OUT = 65535
OUT_RANGE = {16: (fixed.INT16_MIN, fixed.INT16_MAX), 8: (fixed.INT8_MIN, fixed.INT8_MAX)}


def check(fmt: int, bits: int, weight, bias, mult, shift, act_min: int, act_max: int,
          out_bits: int = 16) -> None:
    """Raise ValueError unless the layer is one the kernel accepts (fx_dense_check's rules)."""
    quant.check_format(fmt, bits)
    weight = np.asarray(weight)
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D [out, in], got shape {weight.shape}")
    n_out, n_in = weight.shape
    if not (1 <= n_in <= MAX_FAN_IN and 1 <= n_out <= MAX_FAN_OUT):
        raise ValueError(f"layer shape {n_out}x{n_in} outside 1..{MAX_FAN_OUT} x 1..{MAX_FAN_IN}")
    quant.levels_to_codes(weight, fmt, bits)          # every weight must be a level
    bias = np.asarray(bias)
    if bias.shape != (n_out,):
        raise ValueError(f"bias shape {bias.shape}, expected ({n_out},)")
    if bias.size and (bias.min() < fixed.INT32_MIN or bias.max() > fixed.INT32_MAX):
        raise ValueError("bias outside int32")
    mult, shift = np.atleast_1d(mult), np.atleast_1d(shift)
    if mult.ndim != 1 or mult.shape != shift.shape or len(mult) not in (1, n_out):
        raise ValueError(f"mult/shift must both have 1 or {n_out} entries, got {mult.shape} and {shift.shape}")
    for m, s in zip(mult.tolist(), shift.tolist()):
        fixed.requant_check(int(m), int(s))
    if out_bits not in OUT_RANGE:
        raise ValueError(f"output type must be 8 or 16 bits, not {out_bits}")
    lo, hi = OUT_RANGE[out_bits]
    if not (lo <= act_min <= act_max <= hi):
        raise ValueError(f"activation range [{act_min}, {act_max}] not an ordered range inside int{out_bits}")


def dense(x, weight, bias, mult, shift, act_min: int, act_max: int, in_bits: int = 16) -> np.ndarray:
    """y (int64) for x [in] or a batch [n, in] of int`in_bits` values; the layer is not
    validated here (see check)."""
    x = np.asarray(x, dtype=np.int64)
    lo, hi = OUT_RANGE[in_bits]
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"inputs outside int{in_bits}")
    weight = np.asarray(weight, dtype=np.int64)
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"input of {x.shape[-1]} features for a layer of fan-in {weight.shape[1]}")
    acc = x @ weight.T + np.asarray(bias, dtype=np.int64)
    acc = np.clip(acc, fixed.INT32_MIN, fixed.INT32_MAX)
    y = fixed.requant_np(acc, np.asarray(mult, dtype=np.int64), np.asarray(shift, dtype=np.int64))
    return np.clip(y, act_min, act_max)


# ---- the C kernel (ctypes) ---------------------------------------------------------------------

class FxDenseLayer(C.Structure):
    """Mirror of fx_dense_layer (fx_dense.h)."""
    _fields_ = [
        ("format", C.c_int32), ("bits", C.c_int32), ("n_in", C.c_uint32), ("n_out", C.c_uint32),
        ("weights", C.c_void_p), ("bias", native.i32p), ("mult", native.i32p), ("shift", native.i32p),
        ("n_scale", C.c_uint32), ("act_min", C.c_int32), ("act_max", C.c_int32),
    ]


class CDenseLayer:
    """An FxDenseLayer plus the numpy arrays it points into (kept alive with it).
    Arrays are passed through unchecked, so tests can hand the kernel bad layers."""

    def __init__(self, fmt, bits, weight, bias, mult, shift, act_min, act_max, weight_data=None):
        weight = np.atleast_2d(np.asarray(weight, dtype=np.int64))
        self.weight_data = (np.ascontiguousarray(weight_data, dtype=np.uint8) if weight_data is not None
                            else quant.weight_bytes(weight, fmt, bits))
        self.bias = np.ascontiguousarray(bias, dtype=np.int32)
        self.mult = np.ascontiguousarray(np.atleast_1d(mult), dtype=np.int32)
        self.shift = np.ascontiguousarray(np.atleast_1d(shift), dtype=np.int32)
        self.struct = FxDenseLayer(
            fmt, bits, weight.shape[1], weight.shape[0], self.weight_data.ctypes.data,
            native.ptr(self.bias, C.c_int32), native.ptr(self.mult, C.c_int32),
            native.ptr(self.shift, C.c_int32), len(self.mult), act_min, act_max)


_CTYPE = {8: C.c_int8, 16: C.c_int16}
_DTYPE = {8: np.int8, 16: np.int16}
FORWARD = {(16, 16): "fx_dense_s16", (16, 8): "fx_dense_s16_s8", (8, 8): "fx_dense_s8", (8, 16): "fx_dense_s8_s16"}

native.declare("fx_dense_check", C.c_int, [C.POINTER(FxDenseLayer), C.c_int32])
for (_i, _o), _name in FORWARD.items():
    native.declare(_name, C.c_int, [C.POINTER(FxDenseLayer), C.POINTER(_CTYPE[_i]), C.POINTER(_CTYPE[_o])])


def c_forward(kernel, layer: CDenseLayer, x, in_bits: int = 16, out_bits: int = 16):
    """Run the C forward on each row of x ([in] or [n, in]); returns (status, y int64).
    y is the first failing call's output buffer when status != 0."""
    x = np.atleast_2d(np.asarray(x))
    xs = np.ascontiguousarray(x, dtype=_DTYPE[in_bits])
    ys = np.zeros((x.shape[0], layer.struct.n_out), dtype=_DTYPE[out_bits])
    fn = getattr(kernel, FORWARD[(in_bits, out_bits)])
    for r in range(x.shape[0]):
        st = fn(C.byref(layer.struct), native.ptr(xs[r], _CTYPE[in_bits]), native.ptr(ys[r], _CTYPE[out_bits]))
        if st != 0:
            return st, ys.astype(np.int64)
    return 0, ys.astype(np.int64)
